//! Files the binary serves: the browser agent (`/agent/vigil.js`) and the dashboard (`/` and
//! every path no other route takes, so the app's client-side routes load it).

mod agent;

pub use agent::versioned_path as agent_versioned_path;
mod web;

use axum::Router;
use axum::routing::get;
use std::path::PathBuf;
use std::sync::Arc;

/// The agent and the dashboard, from `web_dir` when given (for working on the dashboard
/// without rebuilding the binary), else the files embedded at build time. Merge it last:
/// its catch-all route answers whatever the other routers do not.
pub fn router(web_dir: Option<PathBuf>) -> Router {
    // The agent's errors (not built) read like the API's; the dashboard's stay pages.
    let agent = Router::new()
        .route("/agent/vigil.js", get(agent::agent_js))
        .route("/agent/vigil-replay.js", get(agent::replay_js))
        .route("/agent/{file}", get(agent::agent_versioned))
        .layer(axum::middleware::map_response(
            crate::error::json_rejections,
        ));
    let dashboard = Router::new()
        .route("/", get(web::index))
        .route("/{*path}", get(web::asset))
        .with_state(Arc::new(web_dir));
    agent.merge(dashboard)
}
