//! Arrow builders that encoded rows go into: how a memtable grows without an Arrow array per
//! batch, and how encoded rows become record batches.

use super::codec::{BOOL, ColumnSection, INT, Reader, TEXT, TableSection, unzigzag};
use crate::field::Type;
use crate::table::Table;
use arrow_array::builder::{ArrayBuilder, BooleanBuilder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use std::sync::Arc;

enum ColumnBuilder {
    Text(StringBuilder),
    Int(Int64Builder),
    Bool(BooleanBuilder),
}

impl ColumnBuilder {
    fn new(ty: Type) -> ColumnBuilder {
        match ty {
            Type::Text => ColumnBuilder::Text(StringBuilder::new()),
            Type::Int | Type::Fixed(_) => ColumnBuilder::Int(Int64Builder::new()),
            Type::Bool => ColumnBuilder::Bool(BooleanBuilder::new()),
        }
    }

    fn append_nulls(&mut self, n: usize) {
        match self {
            ColumnBuilder::Text(b) => b.append_nulls(n),
            ColumnBuilder::Int(b) => b.append_nulls(n),
            ColumnBuilder::Bool(b) => b.append_nulls(n),
        }
    }

    /// Appends a checked column's values (see [`super::codec::parse`]); a value that does
    /// not read (which the check rules out) becomes a null, so the columns stay aligned.
    fn append(&mut self, column: &ColumnSection<'_>, rows: usize) {
        let mut r = Reader {
            bytes: column.values,
        };
        match (self, column.tag) {
            (ColumnBuilder::Text(b), TEXT) => {
                if column.constant {
                    let v = r.str().ok();
                    (0..rows).for_each(|_| b.append_option(v));
                } else {
                    for i in 0..rows {
                        let v = r.str().ok();
                        b.append_option(v.filter(|_| column.is_valid(i)));
                    }
                }
            }
            (ColumnBuilder::Int(b), INT) => {
                if column.constant {
                    let v = r.varint().ok().map(unzigzag);
                    (0..rows).for_each(|_| b.append_option(v));
                } else {
                    for i in 0..rows {
                        let v = r.varint().ok().map(unzigzag);
                        b.append_option(v.filter(|_| column.is_valid(i)));
                    }
                }
            }
            (ColumnBuilder::Bool(b), BOOL) => {
                if column.constant {
                    let v = r.u8().ok().map(|v| v != 0);
                    (0..rows).for_each(|_| b.append_option(v));
                } else {
                    for i in 0..rows {
                        let v = r.u8().ok().map(|v| v != 0);
                        b.append_option(v.filter(|_| column.is_valid(i)));
                    }
                }
            }
            (builder, _) => builder.append_nulls(rows),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Text(b) => Arc::new(b.finish()),
            ColumnBuilder::Int(b) => Arc::new(b.finish()),
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
        }
    }

    fn finish_cloned(&self) -> ArrayRef {
        match self {
            ColumnBuilder::Text(b) => Arc::new(b.finish_cloned()),
            ColumnBuilder::Int(b) => Arc::new(b.finish_cloned()),
            ColumnBuilder::Bool(b) => Arc::new(b.finish_cloned()),
        }
    }

    fn capacity_bytes(&self) -> usize {
        match self {
            ColumnBuilder::Text(b) => {
                b.values_slice().len() + b.offsets_slice().len() * 4 + b.len().div_ceil(8)
            }
            ColumnBuilder::Int(b) => b.capacity() * 8 + b.len().div_ceil(8),
            ColumnBuilder::Bool(b) => b.capacity().div_ceil(8) * 2,
        }
    }
}

/// One table's rows being gathered into Arrow builders, many batches' worth.
pub struct TableAppender {
    table: Table,
    columns: Vec<ColumnBuilder>,
    rows: usize,
}

impl TableAppender {
    /// Empty builders for every column of `table`.
    pub fn new(table: Table) -> TableAppender {
        TableAppender {
            table,
            columns: table
                .columns()
                .iter()
                .map(|f| ColumnBuilder::new(f.ty))
                .collect(),
            rows: 0,
        }
    }

    /// Rows gathered since the last finish.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row was gathered since the last finish.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// About the bytes the builders hold.
    pub fn memory_bytes(&self) -> usize {
        self.columns.iter().map(ColumnBuilder::capacity_bytes).sum()
    }

    /// Appends one table section of encoded rows; columns it does not carry get nulls.
    pub fn append(&mut self, section: &TableSection<'_>) {
        debug_assert_eq!(section.table, self.table);
        let mut filled = vec![false; self.columns.len()];
        for column in &section.columns {
            self.columns[column.index].append(column, section.rows);
            filled[column.index] = true;
        }
        for (builder, filled) in self.columns.iter_mut().zip(filled) {
            if !filled {
                builder.append_nulls(section.rows);
            }
        }
        self.rows += section.rows;
    }

    /// The gathered rows as a record batch; the builders start empty again.
    pub fn finish(&mut self) -> RecordBatch {
        self.rows = 0;
        let arrays = self.columns.iter_mut().map(ColumnBuilder::finish).collect();
        RecordBatch::try_new(self.table.schema(), arrays)
            .expect("builders of the table's columns make its schema")
    }

    /// The gathered rows as a record batch, a copy; the builders keep them.
    pub fn finish_cloned(&self) -> RecordBatch {
        let arrays = self
            .columns
            .iter()
            .map(ColumnBuilder::finish_cloned)
            .collect();
        RecordBatch::try_new(self.table.schema(), arrays)
            .expect("builders of the table's columns make its schema")
    }
}
