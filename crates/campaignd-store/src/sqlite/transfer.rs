//! Rows of every table for `campaignd copy` (see [`crate::transfer`]).

use rusqlite::types::{ToSqlOutput, Value as SqlValue};
use rusqlite::{Connection, Transaction, params_from_iter};

use super::campaigns::row_key;
use crate::Result;
use crate::transfer::{Cell, Kind, Row, Table};

/// Campaign rows an unpublished import holds are not part of the
/// deployment.
const VISIBLE: &str =
    "(import_id IS NULL OR import_id IN (SELECT id FROM imports WHERE state = 'published'))";

/// The expression read for a column: a body missing or from an older
/// build reads as empty with version 0, which every build renders afresh.
fn select_expr(table: Table, column: &str) -> String {
    match (table, column) {
        (Table::Campaigns, "body") => "coalesce(body, '')".into(),
        (Table::Campaigns, "body_version") => "coalesce(body_version, 0)".into(),
        _ => column.into(),
    }
}

fn to_sql(cell: &Cell) -> ToSqlOutput<'_> {
    match cell {
        Cell::Null => ToSqlOutput::Owned(SqlValue::Null),
        Cell::Int(n) => ToSqlOutput::from(*n),
        Cell::Real(x) => ToSqlOutput::from(*x),
        Cell::Text(s) => ToSqlOutput::from(s.as_str()),
        Cell::Blob(b) => ToSqlOutput::from(b.as_slice()),
        Cell::Bool(b) => ToSqlOutput::from(i64::from(*b)),
    }
}

fn cell(row: &rusqlite::Row<'_>, i: usize, kind: Kind) -> rusqlite::Result<Cell> {
    Ok(match kind {
        Kind::Int => row.get::<_, Option<i64>>(i)?.map_or(Cell::Null, Cell::Int),
        Kind::Real => row.get::<_, Option<f64>>(i)?.map_or(Cell::Null, Cell::Real),
        Kind::Text => row
            .get::<_, Option<String>>(i)?
            .map_or(Cell::Null, Cell::Text),
        Kind::Blob => row
            .get::<_, Option<Vec<u8>>>(i)?
            .map_or(Cell::Null, Cell::Blob),
        Kind::Bool => row
            .get::<_, Option<i64>>(i)?
            .map_or(Cell::Null, |n| Cell::Bool(n != 0)),
    })
}

/// Which rows of `table` are part of the deployment.
pub(super) fn condition(table: Table) -> &'static str {
    if table == Table::Campaigns {
        VISIBLE
    } else {
        "1"
    }
}

pub(super) fn count(conn: &Connection, table: Table) -> rusqlite::Result<u64> {
    conn.query_row(
        &format!(
            "SELECT COUNT(*) FROM {} WHERE {}",
            table.name(),
            condition(table)
        ),
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
}

pub(super) fn read(
    conn: &Connection,
    table: Table,
    after: Option<&Row>,
    limit: u32,
) -> rusqlite::Result<Vec<Row>> {
    let columns = table.columns();
    let select: Vec<String> = columns
        .iter()
        .map(|(name, _)| select_expr(table, name))
        .collect();
    let key = table.key_tuple();
    let mut args: Vec<ToSqlOutput<'_>> = Vec::new();
    let mut sql = format!(
        "SELECT {} FROM {} WHERE {}",
        select.join(", "),
        table.name(),
        condition(table)
    );
    if let Some(after) = after {
        let marks = vec!["?"; table.key_len()].join(", ");
        sql.push_str(&format!(" AND {key} > ({marks})"));
        args.extend(after[..table.key_len()].iter().map(to_sql));
    }
    sql.push_str(&format!(" ORDER BY {} LIMIT ?", &key[1..key.len() - 1]));
    args.push(ToSqlOutput::from(i64::from(limit)));
    let mut stmt = conn.prepare(&sql)?;
    stmt.query_map(params_from_iter(args.iter()), |r| {
        columns
            .iter()
            .enumerate()
            .map(|(i, (_, kind))| cell(r, i, *kind))
            .collect()
    })?
    .collect()
}

pub(super) fn write(tx: &Transaction<'_>, table: Table, rows: &[Row]) -> Result<()> {
    let columns = table.column_list();
    let marks = vec!["?"; table.columns().len()].join(", ");
    // A campaign's row_id clusters the table by (center, id); see
    // `campaigns::row_key`.
    let sql = if table == Table::Campaigns {
        format!(
            "INSERT INTO campaigns (row_id, {columns}) VALUES (coalesce(?, \
             (SELECT min(coalesce(min(row_id), 0), 0) - 1 FROM campaigns)), {marks})"
        )
    } else {
        format!("INSERT INTO {} ({columns}) VALUES ({marks})", table.name())
    };
    let mut stmt = tx.prepare(&sql)?;
    for row in rows {
        let mut args: Vec<ToSqlOutput<'_>> = Vec::with_capacity(row.len() + 1);
        if table == Table::Campaigns {
            let key = match (&row[0], &row[1]) {
                (Cell::Int(center), Cell::Int(id)) => {
                    campaignd_model::ContactCenterId::new(*center)
                        .zip(campaignd_model::CampaignId::new(*id))
                        .and_then(|(center, id)| row_key(center, id))
                }
                _ => None,
            };
            args.push(key.map_or(ToSqlOutput::Owned(SqlValue::Null), ToSqlOutput::from));
        }
        args.extend(row.iter().map(to_sql));
        stmt.execute(params_from_iter(args.iter()))?;
    }
    Ok(())
}
