//! The event tables: one per event kind keeps columns dense.

use crate::declare::{COLUMNS, SCHEMAS};
use crate::field::Field;
use arrow_schema::SchemaRef;
use vigil_protocol::EventBody;

/// One table of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Table {
    Views,
    Vitals,
    Resources,
    ResourceErrors,
    LongTasks,
    Errors,
    Requests,
    Actions,
    Routes,
    CustomEvents,
    AppStarts,
    ScreenLoads,
    Crashes,
    Anrs,
    Janks,
    /// Backends' spans (OTLP) and browsers' client spans.
    Spans,
    /// Backends' log records (OTLP).
    Logs,
}

impl Table {
    /// The tables of SDK events, each with the batch context's columns (session, page,
    /// device, …): what a monitored session is made of.
    pub const EVENTS: [Table; 15] = [
        Table::Views,
        Table::Vitals,
        Table::Resources,
        Table::ResourceErrors,
        Table::LongTasks,
        Table::Errors,
        Table::Requests,
        Table::Actions,
        Table::Routes,
        Table::CustomEvents,
        Table::AppStarts,
        Table::ScreenLoads,
        Table::Crashes,
        Table::Anrs,
        Table::Janks,
    ];

    /// Every table, in a fixed order: the event tables, then backends' spans and logs.
    pub const ALL: [Table; 17] = {
        let mut all = [Table::Spans; 17];
        let mut i = 0;
        while i < Table::EVENTS.len() {
            all[i] = Table::EVENTS[i];
            i += 1;
        }
        all[16] = Table::Logs;
        all
    };

    /// Whether it holds SDK events (with the batch context's columns).
    pub fn is_event(self) -> bool {
        !matches!(self, Table::Spans | Table::Logs)
    }

    /// The SQL and file name of the table.
    pub fn name(self) -> &'static str {
        match self {
            Table::Views => "views",
            Table::Vitals => "vitals",
            Table::Resources => "resources",
            Table::ResourceErrors => "resource_errors",
            Table::LongTasks => "long_tasks",
            Table::Errors => "errors",
            Table::Requests => "requests",
            Table::Actions => "actions",
            Table::Routes => "routes",
            Table::CustomEvents => "custom_events",
            Table::AppStarts => "app_starts",
            Table::ScreenLoads => "screen_loads",
            Table::Crashes => "crashes",
            Table::Anrs => "anrs",
            Table::Janks => "janks",
            Table::Spans => "spans",
            Table::Logs => "logs",
        }
    }

    /// The table by name.
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The table an event goes to.
    pub fn of(body: &EventBody) -> Table {
        match body {
            EventBody::View(_) => Table::Views,
            EventBody::Vital(_) => Table::Vitals,
            EventBody::Resource(_) => Table::Resources,
            EventBody::ResourceError(_) => Table::ResourceErrors,
            EventBody::LongTask(_) => Table::LongTasks,
            EventBody::Error(_) => Table::Errors,
            EventBody::Request(_) => Table::Requests,
            EventBody::Action(_) => Table::Actions,
            EventBody::Route(_) => Table::Routes,
            EventBody::Custom(_) => Table::CustomEvents,
            EventBody::AppStart(_) => Table::AppStarts,
            EventBody::ScreenLoad(_) => Table::ScreenLoads,
            EventBody::Crash(_) => Table::Crashes,
            EventBody::Anr(_) => Table::Anrs,
            EventBody::Jank(_) => Table::Janks,
        }
    }

    /// All columns: the common ones first, then the table's own.
    pub fn columns(self) -> &'static [Field] {
        &COLUMNS[self as usize]
    }

    /// The Arrow schema.
    pub fn schema(self) -> SchemaRef {
        SCHEMAS[self as usize].clone()
    }

    /// One column by name.
    pub fn column(self, name: &str) -> Option<&'static Field> {
        self.columns().iter().find(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_sits_at_its_own_index() {
        // The declarations are looked up by `table as usize`.
        for (i, t) in Table::ALL.iter().enumerate() {
            assert_eq!(*t as usize, i, "{}", t.name());
        }
        assert!(Table::EVENTS.iter().all(|t| t.is_event()));
        assert!(!Table::Spans.is_event() && !Table::Logs.is_event());
    }
}
