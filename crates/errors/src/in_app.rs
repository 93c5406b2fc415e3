//! Which frames are the application's own code. Grouping hashes only those, and the
//! dashboard shows the others folded: a framework's or a browser extension's frames say
//! little about where the application broke.

/// Schemes of browser extensions: their scripts run in the page but are not the site's.
pub const EXTENSION_SCHEMES: [&str; 4] = [
    "chrome-extension://",
    "moz-extension://",
    "safari-extension://",
    "safari-web-extension://",
];

/// Whether a script URL belongs to a browser extension.
pub fn is_extension_url(url: &str) -> bool {
    EXTENSION_SCHEMES.iter().any(|s| url.starts_with(s))
}

/// Whether a frame's script is the site's own, judged by its URL: served from the page's
/// host or one of the project's allowed origins, and not a vendor bundle or Vigil's agent.
pub fn script_is_in_app(url: &str, page_host: Option<&str>, trusted_hosts: &[String]) -> bool {
    if is_extension_url(url) || !(url.starts_with("http://") || url.starts_with("https://")) {
        return false;
    }
    let Some(host) = vigil_model::host_of(url) else {
        return false;
    };
    let same_site = page_host.is_some_and(|p| p.eq_ignore_ascii_case(&host))
        || trusted_hosts.iter().any(|t| t.eq_ignore_ascii_case(&host));
    same_site && path_is_in_app(url)
}

/// Whether a path (a script URL's or an original source's) is the application's code:
/// not under `node_modules`, a vendor folder or bundle, a bundler's runtime, or Vigil's
/// agent.
pub fn path_is_in_app(path: &str) -> bool {
    let path = path
        .split(['?', '#'])
        .next()
        .unwrap_or(path)
        .to_ascii_lowercase();
    let base = path.rsplit('/').next().unwrap_or(&path);
    !(path.contains("/node_modules/")
        || path.starts_with("node_modules/")
        || path.contains("/vendor/")
        || path.contains("/vendors/")
        || path.contains("webpack/bootstrap")
        || path.contains("webpack/runtime")
        || path.contains("/~/")
        || path.contains("/agent/vigil")
        || base.starts_with("vendor")
        || base.starts_with("chunk-vendors")
        || base.starts_with("npm."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sites_scripts_are_in_app_and_others_are_not() {
        let page = Some("shop.example.com");
        let trusted = vec!["cdn.shop.example.com".to_owned()];
        assert!(script_is_in_app(
            "https://shop.example.com/assets/cart.js",
            page,
            &trusted
        ));
        assert!(script_is_in_app(
            "https://cdn.shop.example.com/app.js?v=2",
            page,
            &trusted
        ));
        for other in [
            "https://www.googletagmanager.com/gtm.js",
            "chrome-extension://abcdef/content.js",
            "https://shop.example.com/assets/vendor-a81c3f.js",
            "https://shop.example.com/assets/chunk-vendors.js",
            "https://shop.example.com/agent/vigil.1a2b3c4d.js",
            "<anonymous>",
            "",
        ] {
            assert!(!script_is_in_app(other, page, &trusted), "{other}");
        }
    }

    #[test]
    fn original_paths_under_node_modules_are_not_in_app() {
        assert!(path_is_in_app("src/checkout/cart.ts"));
        assert!(path_is_in_app("webpack:///./src/cart.ts"));
        assert!(!path_is_in_app(
            "../node_modules/react-dom/cjs/react-dom.development.js"
        ));
        assert!(!path_is_in_app(
            "webpack:///./node_modules/lodash/lodash.js"
        ));
        assert!(!path_is_in_app("webpack:///webpack/bootstrap"));
    }
}
