//! Alerts per segment (`docs/alerts.md`): rules over anything the query model computes,
//! evaluated per segment of up to three dimensions on a fixed cadence inside `vigil serve`;
//! ok → pending → firing → resolved with a minimum sample count, an evaluation delay and
//! hysteresis; every transition kept; notifications by webhook, Slack-compatible webhook
//! and email, one per rule and evaluation, delivered from an outbox with retries; mutes per
//! rule and per segment; a preview over past windows.

mod evaluate;
mod lease;
mod notify;
mod rule;
mod smtp;
mod state;

pub use evaluate::{
    AlertError, Evaluator, EvaluatorMetrics, Preview, PreviewEvent, PreviewPoint, PreviewSegment,
    Round, parse, segment_of,
};
pub use lease::Lease;
pub use notify::{
    AlertNotice, DeliveryConfig, DeliveryMetrics, Links, Outbox, email_text, format_value, now_ms,
    segment_label, slack_body,
};
pub use rule::{
    Channel, Condition, Denominator, ErrorGroups, MAX_CHANNELS, MAX_GROUP_BY, MAX_SEGMENTS,
    RuleDefinition, is_count,
};
pub use smtp::{SmtpConfig, SmtpSecurity, send_email};
pub use state::{Observation, Segment, step};
