//! Rows of every table for `campaignd copy` (see [`crate::transfer`]).

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::campaigns::{Param, refs};
use super::col;
use crate::Result;
use crate::transfer::{Cell, Kind, Row, Table};

fn param(cell: &Cell, kind: Kind) -> Param {
    match (cell, kind) {
        (Cell::Null, Kind::Int) => Box::new(None::<i64>),
        (Cell::Null, Kind::Real) => Box::new(None::<f64>),
        (Cell::Null, Kind::Text) => Box::new(None::<String>),
        (Cell::Null, Kind::Blob) => Box::new(None::<Vec<u8>>),
        (Cell::Null, Kind::Bool) => Box::new(None::<bool>),
        (Cell::Int(n), _) => Box::new(*n),
        (Cell::Real(x), _) => Box::new(*x),
        (Cell::Text(s), _) => Box::new(s.clone()),
        (Cell::Blob(b), _) => Box::new(b.clone()),
        (Cell::Bool(b), _) => Box::new(*b),
    }
}

fn cell(row: &tokio_postgres::Row, i: usize, kind: Kind) -> Result<Cell> {
    Ok(match kind {
        Kind::Int => col::<Option<i64>>(row, i)?.map_or(Cell::Null, Cell::Int),
        Kind::Real => col::<Option<f64>>(row, i)?.map_or(Cell::Null, Cell::Real),
        Kind::Text => col::<Option<String>>(row, i)?.map_or(Cell::Null, Cell::Text),
        Kind::Blob => col::<Option<Vec<u8>>>(row, i)?.map_or(Cell::Null, Cell::Blob),
        Kind::Bool => col::<Option<bool>>(row, i)?.map_or(Cell::Null, Cell::Bool),
    })
}

pub(super) async fn count(conn: &impl GenericClient, table: Table) -> Result<u64> {
    let n: i64 = conn
        .query_one(&format!("SELECT COUNT(*) FROM {}", table.name()), &[])
        .await?
        .get(0);
    Ok(n as u64)
}

pub(super) async fn read(
    conn: &impl GenericClient,
    table: Table,
    after: Option<&Row>,
    limit: u32,
) -> Result<Vec<Row>> {
    let columns = table.columns();
    let key = table.key_tuple();
    let mut args: Vec<Param> = Vec::new();
    let mut sql = format!("SELECT {} FROM {}", table.column_list(), table.name());
    if let Some(after) = after {
        let marks: Vec<String> = (1..=table.key_len()).map(|i| format!("${i}")).collect();
        sql.push_str(&format!(" WHERE {key} > ({})", marks.join(", ")));
        args.extend(
            after[..table.key_len()]
                .iter()
                .zip(columns)
                .map(|(c, (_, kind))| param(c, *kind)),
        );
    }
    args.push(Box::new(i64::from(limit)));
    sql.push_str(&format!(
        " ORDER BY {} LIMIT ${}",
        &key[1..key.len() - 1],
        args.len()
    ));
    conn.query(&sql, &refs(&args))
        .await?
        .iter()
        .map(|r| {
            columns
                .iter()
                .enumerate()
                .map(|(i, (_, kind))| cell(r, i, *kind))
                .collect()
        })
        .collect()
}

pub(super) async fn write(tx: &impl GenericClient, table: Table, rows: &[Row]) -> Result<()> {
    let columns = table.columns();
    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    let stmt = tx
        .prepare(&format!(
            "INSERT INTO {} ({}) VALUES ({})",
            table.name(),
            table.column_list(),
            marks.join(", ")
        ))
        .await?;
    let params: Vec<Vec<Param>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .zip(columns)
                .map(|(c, (_, kind))| param(c, *kind))
                .collect()
        })
        .collect();
    let refs: Vec<Vec<&(dyn ToSql + Sync)>> = params.iter().map(|p| refs(p)).collect();
    // Sent at once: the driver pipelines them on the connection.
    futures_util::future::try_join_all(refs.iter().map(|p| tx.execute(&stmt, p))).await?;
    Ok(())
}

/// Moves each identity past the largest copied id, so new rows never
/// collide with copied ones.
pub(super) async fn finish(conn: &impl GenericClient) -> Result<()> {
    for (table, column) in [
        ("contact_centers", "id"),
        ("api_keys", "id"),
        ("leads", "seq"),
        ("audit", "seq"),
    ] {
        conn.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                    coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)"
            ),
            &[],
        )
        .await?;
    }
    Ok(())
}
