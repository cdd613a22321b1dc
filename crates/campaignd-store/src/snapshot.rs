//! Snapshots: a whole deployment as one portable file (`campaignd snapshot
//! save`), loaded by `serve --seed` — the known state an emulator starts
//! from and resets to.
//!
//! The file is NDJSON. Its first line names the format and counts each
//! table's rows; then one line per row, tables in [`Table::ALL`] order:
//!
//! ```text
//! {"campaignd_snapshot":1,"tables":{"settings":1,"contact_centers":1,...}}
//! {"table":"settings","row":["key_secret","9f0c…"]}
//! {"table":"contact_centers","row":[1,"demo",27,1764633600000]}
//! ```
//!
//! Cells are JSON numbers, strings, booleans or null as their column's
//! kind says; bytes are lowercase hex. A snapshot holds key hashes and the
//! server secret, never a key in the clear, and is either read whole or
//! refused: a row count that disagrees with the header (a cut file) stops
//! the load.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use serde_json::{Value, json};

use crate::transfer::{Cell, Kind, Row, Table};
use crate::{Result, Store, StoreError};

/// The format's version, in the header.
pub const VERSION: u64 = 1;

/// Rows per read and per write.
const BATCH: u32 = 1000;

/// A row as its line holds it.
fn encode(table: Table, row: &Row) -> Value {
    let cells: Vec<Value> = row
        .iter()
        .map(|cell| match cell {
            Cell::Null => Value::Null,
            Cell::Int(n) => json!(n),
            Cell::Real(x) => json!(x),
            Cell::Text(s) => json!(s),
            Cell::Bool(b) => json!(b),
            Cell::Blob(bytes) => json!(hex(bytes)),
        })
        .collect();
    json!({"table": table.name(), "row": cells})
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A row of `table` from its line's cells.
fn decode(table: Table, cells: &[Value]) -> std::result::Result<Row, String> {
    let columns = table.columns();
    if cells.len() != columns.len() {
        return Err(format!(
            "a {} row has {} cells, not {}",
            table.name(),
            cells.len(),
            columns.len()
        ));
    }
    cells
        .iter()
        .zip(columns)
        .map(|(value, (name, kind))| {
            let cell = match (value, kind) {
                (Value::Null, _) => Some(Cell::Null),
                (v, Kind::Int) => v.as_i64().map(Cell::Int),
                (v, Kind::Real) => v.as_f64().map(Cell::Real),
                (Value::String(s), Kind::Text) => Some(Cell::Text(s.clone())),
                (Value::Bool(b), Kind::Bool) => Some(Cell::Bool(*b)),
                (Value::String(s), Kind::Blob) => unhex(s).map(Cell::Blob),
                _ => None,
            };
            cell.ok_or_else(|| format!("{}.{name} holds {value}, not a {kind:?}", table.name()))
        })
        .collect()
}

/// What a save or a load moved, per table.
pub type Counts = BTreeMap<&'static str, u64>;

/// Writes every table of `store` to `out`; `progress` is told each table's
/// name and rows as they go.
pub async fn save(
    store: &dyn Store,
    out: &mut impl Write,
    mut progress: impl FnMut(Table, u64, u64),
) -> Result<Counts> {
    let io = |e: std::io::Error| StoreError::Internal(format!("cannot write the snapshot: {e}"));
    let mut counts = Counts::new();
    for table in Table::ALL {
        counts.insert(table.name(), store.count_rows(table).await?);
    }
    writeln!(
        out,
        "{}",
        json!({"campaignd_snapshot": VERSION, "tables": counts})
    )
    .map_err(io)?;
    let mut written = Counts::new();
    for table in Table::ALL {
        let total = counts[table.name()];
        let mut done = 0;
        let mut after = None;
        loop {
            let rows = store.read_rows(table, after.take(), BATCH).await?;
            let Some(last) = rows.last().cloned() else {
                break;
            };
            for row in &rows {
                writeln!(out, "{}", encode(table, row)).map_err(io)?;
            }
            done += rows.len() as u64;
            progress(table, done, total);
            after = Some(last);
        }
        // Written during the save: the header must say what the file holds.
        if done != total {
            return Err(StoreError::Internal(format!(
                "{} changed during the save ({total} rows counted, {done} read); save it again \
                 while nothing writes",
                table.name()
            )));
        }
        written.insert(table.name(), done);
    }
    out.flush().map_err(io)?;
    Ok(written)
}

/// The header's table counts, after checking it names this format.
fn header(input: &mut impl BufRead) -> Result<BTreeMap<String, u64>> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|e| bad(1, e.to_string()))?;
    if line.trim().is_empty() {
        return Err(bad(1, "the file is empty"));
    }
    let header: Value = serde_json::from_str(&line).map_err(|e| bad(1, e.to_string()))?;
    if header["campaignd_snapshot"] != json!(VERSION) {
        return Err(bad(
            1,
            format!("not a campaignd snapshot of version {VERSION}"),
        ));
    }
    serde_json::from_value(header["tables"].clone())
        .map_err(|e| bad(1, format!("the table counts: {e}")))
}

fn bad(line: usize, why: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("the snapshot is invalid at line {line}: {why}"))
}

/// Every row after the header, checked, with its line number; tables must
/// come in [`Table::ALL`] order. `each` sees them one by one.
async fn rows<R: BufRead>(
    input: R,
    mut each: impl AsyncFnMut(usize, Table, Row) -> Result<()>,
) -> Result<(Counts, usize)> {
    let mut counts: Counts = Table::ALL.iter().map(|t| (t.name(), 0)).collect();
    let order = |t: Table| Table::ALL.iter().position(|x| *x == t);
    let mut current: Option<Table> = None;
    let mut last = 1;
    for (i, line) in input.lines().enumerate() {
        let number = i + 2;
        last = number;
        let line = line.map_err(|e| bad(number, e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&line).map_err(|e| bad(number, e.to_string()))?;
        let table = value["table"]
            .as_str()
            .and_then(|name| Table::ALL.into_iter().find(|t| t.name() == name))
            .ok_or_else(|| bad(number, "no known table named"))?;
        let cells = value["row"]
            .as_array()
            .ok_or_else(|| bad(number, "no row"))?;
        let row = decode(table, cells).map_err(|why| bad(number, why))?;
        if current.is_some_and(|c| order(c) > order(table)) {
            return Err(bad(number, format!("{} rows out of order", table.name())));
        }
        current = Some(table);
        *counts.entry(table.name()).or_insert(0) += 1;
        each(number, table, row).await?;
    }
    Ok((counts, last))
}

/// Replaces everything `store` holds with the snapshot `open` reads. The
/// whole file is checked first (every line, and each table's count
/// against the header, so a cut file is caught), and only then is the
/// store emptied and the rows written; a store that fails midway is left
/// for the next load to replace.
pub async fn load<R: BufRead>(
    store: &dyn Store,
    open: impl Fn() -> std::io::Result<R>,
    mut progress: impl FnMut(Table, u64, u64),
) -> Result<Counts> {
    let io = |e: std::io::Error| StoreError::Internal(format!("cannot read the snapshot: {e}"));
    let mut input = open().map_err(io)?;
    let expected = header(&mut input)?;
    let (counts, last) = rows(input, async |_, _, _| Ok(())).await?;
    for table in Table::ALL {
        let want = expected.get(table.name()).copied().unwrap_or(0);
        if counts[table.name()] != want {
            return Err(bad(
                last,
                format!(
                    "{} has {} rows, the header says {want} (is the file cut short?)",
                    table.name(),
                    counts[table.name()]
                ),
            ));
        }
    }
    store.clear_all().await?;
    let mut input = open().map_err(io)?;
    header(&mut input)?;
    let mut written: Counts = Table::ALL.iter().map(|t| (t.name(), 0)).collect();
    let mut batch: Vec<Row> = Vec::new();
    let mut batch_table: Option<Table> = None;
    rows(input, async |_, table, row| {
        if batch_table != Some(table) || batch.len() == BATCH as usize {
            if let Some(done) = batch_table {
                flush(
                    store,
                    done,
                    &mut batch,
                    &mut written,
                    &expected,
                    &mut progress,
                )
                .await?;
            }
            batch_table = Some(table);
        }
        batch.push(row);
        Ok(())
    })
    .await?;
    if let Some(table) = batch_table {
        flush(
            store,
            table,
            &mut batch,
            &mut written,
            &expected,
            &mut progress,
        )
        .await?;
    }
    store.finish_copy().await?;
    Ok(written)
}

async fn flush(
    store: &dyn Store,
    table: Table,
    batch: &mut Vec<Row>,
    counts: &mut Counts,
    expected: &BTreeMap<String, u64>,
    progress: &mut impl FnMut(Table, u64, u64),
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let n = batch.len() as u64;
    store.write_rows(table, std::mem::take(batch)).await?;
    let done = counts.entry(table.name()).or_insert(0);
    *done += n;
    progress(
        table,
        *done,
        expected.get(table.name()).copied().unwrap_or(*done),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_cell_round_trips_through_a_line() {
        let row = vec![
            Cell::Int(1),
            Cell::Int(2),
            Cell::Text("Ünïcode \"quoted\"".into()),
            Cell::Text("x".into()),
            Cell::Text("active".into()),
            Cell::Text("simple".into()),
            Cell::Real(1.5),
            Cell::Null,
            Cell::Int(60),
            Cell::Int(5),
            Cell::Int(3),
            Cell::Bool(true),
            Cell::Null,
            Cell::Text("[]".into()),
            Cell::Bool(false),
            Cell::Bool(false),
            Cell::Null,
            Cell::Bool(true),
            Cell::Null,
            Cell::Int(1),
            Cell::Int(2),
            Cell::Text("{}".into()),
            Cell::Int(1),
        ];
        let line = encode(Table::Campaigns, &row);
        let back = decode(Table::Campaigns, line["row"].as_array().unwrap()).unwrap();
        assert_eq!(back, row);
        let secret = vec![
            Cell::Text("key_secret".into()),
            Cell::Blob(vec![0, 1, 254, 255]),
        ];
        let line = encode(Table::Settings, &secret);
        assert_eq!(line["row"][1], "0001feff");
        assert_eq!(
            decode(Table::Settings, line["row"].as_array().unwrap()).unwrap(),
            secret
        );
    }

    #[test]
    fn a_cell_of_the_wrong_kind_or_count_is_refused() {
        assert!(decode(Table::Settings, &[json!("k")]).is_err());
        assert!(decode(Table::Settings, &[json!("k"), json!("zz")]).is_err());
        assert!(decode(Table::Settings, &[json!(1), json!("00")]).is_err());
        assert!(
            decode(
                Table::ContactCenters,
                &[json!(1), json!("a"), json!("x"), json!(1)]
            )
            .is_err()
        );
    }
}
