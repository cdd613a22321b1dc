//! Reads import input as a stream of JSON records, each with its position:
//! a JSON array, or NDJSON (one value per non-blank line). One record is
//! held at a time, so input of any size reads in constant memory.
//!
//! An array is split into its elements by a scan that tracks only strings
//! and nesting; each element is then parsed by `serde_json` on its own, so a
//! bad record is reported with its line and the rest still read. Only a
//! broken array structure (no closing `]`, text after it) stops the read.

use std::io::BufRead;

use anyhow::Context as _;
use serde_json::Value;

/// Where a record came from: its number (from 1) and the line it starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) record: usize,
    pub(crate) line: usize,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "record {} (line {})", self.record, self.line)
    }
}

/// One record read: its value, or why it is not JSON.
#[derive(Debug)]
pub(crate) enum Record {
    Value(Position, Value),
    Invalid(Position, String),
}

/// Where the array scan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// After `[` (`first`) or a `,`: a value comes next.
    BeforeValue { first: bool },
    /// Inside a value: its nesting depth, and whether in a string (and just
    /// after a backslash there).
    InValue {
        depth: usize,
        in_string: bool,
        escaped: bool,
    },
    /// After the closing `]`: only whitespace may follow.
    Closed,
}

#[derive(Debug)]
enum Format {
    /// Not yet known: nothing but whitespace read so far.
    Unknown,
    Lines,
    Array(Scan),
}

/// The records of an input, in order. Yields `Err` once, for input that
/// cannot be read or an array that is not one, and then ends.
pub(crate) struct Records<R> {
    input: R,
    format: Format,
    /// The line the next byte is on.
    line: usize,
    seen: usize,
    bytes_read: u64,
    buf: Vec<u8>,
    finished: bool,
}

impl<R: BufRead> Records<R> {
    pub(crate) fn new(input: R) -> Self {
        Self {
            input,
            format: Format::Unknown,
            line: 1,
            seen: 0,
            bytes_read: 0,
            buf: Vec::new(),
            finished: false,
        }
    }

    /// Bytes of input consumed so far, for progress.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    fn position(&mut self, line: usize) -> Position {
        self.seen += 1;
        Position {
            record: self.seen,
            line,
        }
    }

    /// Takes the record held in `buf`.
    fn record(&mut self, line: usize) -> Record {
        let position = self.position(line);
        let record = match serde_json::from_slice::<Value>(&self.buf) {
            Ok(value) => Record::Value(position, unwrap_response(value)),
            Err(e) => Record::Invalid(position, format!("not valid JSON ({e})")),
        };
        self.buf.clear();
        record
    }

    /// Skips whitespace (and a byte-order mark) to the first byte, which
    /// tells the format.
    fn detect(&mut self) -> anyhow::Result<Option<Format>> {
        let mut at_start = self.bytes_read == 0;
        loop {
            let chunk = self.input.fill_buf().context("cannot read the input")?;
            if chunk.is_empty() {
                return Ok(None);
            }
            if at_start && chunk.starts_with(b"\xEF\xBB\xBF") {
                self.consume(3);
                at_start = false;
                continue;
            }
            at_start = false;
            let Some(at) = chunk.iter().position(|b| !b.is_ascii_whitespace()) else {
                let n = chunk.len();
                self.line += newlines(chunk);
                self.consume(n);
                continue;
            };
            self.line += newlines(&chunk[..at]);
            let array = chunk[at] == b'[';
            self.consume(at + usize::from(array));
            return Ok(Some(if array {
                Format::Array(Scan::BeforeValue { first: true })
            } else {
                Format::Lines
            }));
        }
    }

    fn consume(&mut self, n: usize) {
        self.input.consume(n);
        self.bytes_read += n as u64;
    }

    /// The next non-blank line as a record.
    fn next_line(&mut self) -> anyhow::Result<Option<Record>> {
        loop {
            self.buf.clear();
            let n = self
                .input
                .read_until(b'\n', &mut self.buf)
                .context("cannot read the input")?;
            if n == 0 {
                return Ok(None);
            }
            self.bytes_read += n as u64;
            let line = self.line;
            self.line += 1;
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(self.record(line)));
        }
    }

    /// The next element of the array as a record.
    fn next_element(&mut self, mut scan: Scan) -> anyhow::Result<Option<Record>> {
        let mut start_line = self.line;
        loop {
            let chunk = self.input.fill_buf().context("cannot read the input")?;
            if chunk.is_empty() {
                anyhow::bail!(
                    "the input starts with '[' but ends (at line {}) before the array's closing ']'",
                    self.line
                );
            }
            let mut used = 0;
            let mut done = None;
            for &byte in chunk {
                used += 1;
                if byte == b'\n' {
                    self.line += 1;
                }
                match &mut scan {
                    Scan::Closed => {
                        if !byte.is_ascii_whitespace() {
                            anyhow::bail!(
                                "line {}: unexpected text after the array's closing ']'",
                                self.line
                            );
                        }
                    }
                    Scan::BeforeValue { first } => match byte {
                        b if b.is_ascii_whitespace() => {}
                        b']' if *first => {
                            scan = Scan::Closed;
                        }
                        b',' | b']' => anyhow::bail!("line {}: a value is missing", self.line),
                        _ => {
                            start_line = self.line;
                            self.buf.push(byte);
                            scan = Scan::InValue {
                                depth: usize::from(matches!(byte, b'{' | b'[')),
                                in_string: byte == b'"',
                                escaped: false,
                            };
                        }
                    },
                    Scan::InValue {
                        depth,
                        in_string,
                        escaped,
                    } => {
                        if *in_string {
                            if *escaped {
                                *escaped = false;
                            } else if byte == b'\\' {
                                *escaped = true;
                            } else if byte == b'"' {
                                *in_string = false;
                            }
                        } else if *depth == 0 && byte == b',' {
                            done = Some(Scan::BeforeValue { first: false });
                            break;
                        } else if *depth == 0 && byte == b']' {
                            done = Some(Scan::Closed);
                            break;
                        } else {
                            match byte {
                                b'"' => *in_string = true,
                                b'{' | b'[' => *depth += 1,
                                b'}' | b']' => *depth = depth.saturating_sub(1),
                                _ => {}
                            }
                        }
                        self.buf.push(byte);
                    }
                }
            }
            self.consume(used);
            if let Some(next) = done {
                self.format = Format::Array(next);
                return Ok(Some(self.record(start_line)));
            }
            if scan == Scan::Closed && self.buf.is_empty() {
                // `[]`, or a close just read: only trailing whitespace is left.
                self.format = Format::Array(Scan::Closed);
                return self.finish_closed();
            }
        }
    }

    /// After the array's `]`: checks that only whitespace follows.
    fn finish_closed(&mut self) -> anyhow::Result<Option<Record>> {
        loop {
            let chunk = self.input.fill_buf().context("cannot read the input")?;
            if chunk.is_empty() {
                return Ok(None);
            }
            if let Some(at) = chunk.iter().position(|b| !b.is_ascii_whitespace()) {
                let line = self.line + newlines(&chunk[..at]);
                anyhow::bail!("line {line}: unexpected text after the array's closing ']'");
            }
            let n = chunk.len();
            self.line += newlines(chunk);
            self.consume(n);
        }
    }

    fn advance(&mut self) -> anyhow::Result<Option<Record>> {
        if let Format::Unknown = self.format {
            match self.detect()? {
                Some(format) => self.format = format,
                None => return Ok(None),
            }
        }
        match self.format {
            Format::Unknown => Ok(None),
            Format::Lines => self.next_line(),
            Format::Array(Scan::Closed) => self.finish_closed(),
            Format::Array(scan) => self.next_element(scan),
        }
    }
}

impl<R: BufRead> Iterator for Records<R> {
    type Item = anyhow::Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let next = self.advance();
        if !matches!(next, Ok(Some(_))) {
            self.finished = true;
        }
        next.transpose()
    }
}

/// The line breaks in `bytes`.
#[expect(
    clippy::naive_bytecount,
    reason = "only runs of whitespace between records are counted this way"
)]
fn newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// A Get campaign response (`{"campaign": {...}}`) imports as the campaign
/// it holds.
fn unwrap_response(value: Value) -> Value {
    match value {
        Value::Object(mut map)
            if map.len() == 1 && map.get("campaign").is_some_and(Value::is_object) =>
        {
            map.remove("campaign").expect("checked")
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// Any input: records numbered 1, 2, 3... on lines in order and within
    /// the input, and the read ends.
    #[test]
    fn fuzz_import_records() {
        campaignd_fuzz::fuzz("import_records", |input| {
            let lines = newlines(input) + 1;
            let mut expected = 1;
            let mut last_line = 1;
            for (n, item) in Records::new(input).enumerate() {
                assert!(n <= input.len(), "more records than bytes");
                let Ok(record) = item else {
                    continue;
                };
                let (Record::Value(at, _) | Record::Invalid(at, _)) = record;
                assert_eq!(at.record, expected, "records out of order");
                assert!(
                    at.line >= last_line && at.line <= lines,
                    "{at} of {lines} lines"
                );
                expected += 1;
                last_line = at.line;
            }
        });
    }

    /// A record as the tests compare it: number, line, value or problem.
    type Read = (usize, usize, Result<Value, String>);

    fn read(input: &str) -> anyhow::Result<Vec<Read>> {
        Records::new(input.as_bytes())
            .map(|r| {
                r.map(|record| match record {
                    Record::Value(p, v) => (p.record, p.line, Ok(v)),
                    Record::Invalid(p, e) => (p.record, p.line, Err(e)),
                })
            })
            .collect()
    }

    #[test]
    fn ndjson_records_carry_their_lines_and_blank_lines_are_skipped() {
        let got = read("{\"a\":1}\n\n  \n{broken\n{\"campaign\":{\"b\":2}}").unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!((got[0].0, got[0].1), (1, 1));
        assert_eq!(got[0].2.as_ref().unwrap(), &json!({"a": 1}));
        assert_eq!((got[1].0, got[1].1), (2, 4));
        assert!(got[1].2.as_ref().unwrap_err().starts_with("not valid JSON"));
        assert_eq!((got[2].0, got[2].1), (3, 5));
        assert_eq!(got[2].2.as_ref().unwrap(), &json!({"b": 2}), "unwrapped");
    }

    #[test]
    fn array_elements_carry_the_line_they_start_on() {
        let input = "\u{feff}\n[\n  {\"a\": \"x,]}\\\"\"},\n  {\"b\": [1,\n 2]}, 7 ,\n{bad}\n]\n";
        let got = read(input).unwrap();
        let lines: Vec<(usize, usize)> = got.iter().map(|g| (g.0, g.1)).collect();
        assert_eq!(lines, [(1, 3), (2, 4), (3, 5), (4, 6)]);
        assert_eq!(got[0].2.as_ref().unwrap(), &json!({"a": "x,]}\""}));
        assert_eq!(got[1].2.as_ref().unwrap(), &json!({"b": [1, 2]}));
        assert_eq!(got[2].2.as_ref().unwrap(), &json!(7));
        assert!(got[3].2.is_err());
    }

    #[test]
    fn empty_inputs_hold_no_records() {
        assert!(read("").unwrap().is_empty());
        assert!(read(" \n\n").unwrap().is_empty());
        assert!(read("[]").unwrap().is_empty());
        assert!(read(" [ \n ] \n").unwrap().is_empty());
    }

    #[test]
    fn a_broken_array_stops_the_read_with_its_line() {
        let err = read("[{\"a\":1},\n{\"b\":2}").unwrap_err().to_string();
        assert!(err.contains("before the array's closing ']'"), "{err}");
        let err = read("[1]\n\nx").unwrap_err().to_string();
        assert_eq!(err, "line 3: unexpected text after the array's closing ']'");
        let err = read("[1,\n,2]").unwrap_err().to_string();
        assert_eq!(err, "line 2: a value is missing");
        let err = read("[1,]").unwrap_err().to_string();
        assert_eq!(err, "line 1: a value is missing");
        // The records before the break are still yielded first.
        let mut records = Records::new("[1, 2".as_bytes());
        assert!(matches!(records.next(), Some(Ok(Record::Value(..)))));
        assert!(matches!(records.next(), Some(Err(_))));
        assert!(records.next().is_none());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[ -~\\n\\t\"\\\\,\\[\\]{}é]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map("[a-z,\\]\"]{1,4}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any JSON array, compact or pretty, splits into exactly the
        /// elements serde_json reads from it whole, each on the line it
        /// starts on.
        #[test]
        fn arrays_split_into_what_serde_json_reads(
            values in prop::collection::vec(json_value(), 0..6),
            pretty in any::<bool>(),
        ) {
            let text = if pretty {
                serde_json::to_string_pretty(&values).unwrap()
            } else {
                serde_json::to_string(&values).unwrap()
            };
            let got = read(&text).unwrap();
            let expected: Vec<Value> = values.into_iter().map(unwrap_response).collect();
            let read_values: Vec<Value> = got.iter().map(|g| g.2.clone().unwrap()).collect();
            prop_assert_eq!(read_values, expected);
            for (record, line, _) in &got {
                if pretty {
                    // to_string_pretty puts each element on a line of its own
                    // after the opening bracket's.
                    prop_assert!(*line > 1, "record {} on line {}", record, line);
                } else {
                    prop_assert_eq!(*line, 1);
                }
            }
        }
    }
}
