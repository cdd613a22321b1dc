//! A mutation fuzzer for campaignd's parsers, on the stable toolchain.
//!
//! Each parser's crate has a `fuzz_*` test that calls [`fuzz`] with a
//! target name and a check: a function of the input bytes that panics when
//! a property of the parser fails (a round trip that does not, a value out
//! of its range), or when the parser itself panics. [`fuzz`] first replays
//! every input of `fuzz/corpus/<target>/` (committed; the inputs that once
//! broke a target stay there), then mutates them for a time budget:
//! bit flips, byte changes, insertions and deletions, chunk copies, splices
//! of two inputs and tokens from `fuzz/dict/<target>.txt`. An input that
//! breaks the check is written to `fuzz/artifacts/<target>/` and the test
//! fails naming it, with the seed that found it.
//!
//! Settings, from the environment:
//! - `CAMPAIGND_FUZZ_SECONDS`: the mutation budget per target (default 1,
//!   so every `cargo test` fuzzes a little; `.ci/run` gives more).
//! - `CAMPAIGND_FUZZ_SEED`: the mutation seed (default: from the clock,
//!   printed, so a failure can be repeated).
//!
//! It is not coverage-guided (that needs a nightly compiler): it finds
//! what mutations of a good corpus reach, which is why the corpus holds an
//! input for every branch of the grammar a target parses.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Largest input a mutation makes: parsers' limits are tested with
/// inputs built to size, not grown byte by byte.
const MAX_LEN: usize = 4096;

/// Replays the corpus of `target` through `check`, then fuzzes it for the
/// budget; panics (failing the test) on the first input `check` panics on.
pub fn fuzz(target: &str, check: impl Fn(&[u8])) {
    let root = workspace_root();
    let corpus = read_corpus(&root.join("fuzz/corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ is empty: commit at least one input"
    );
    let dictionary = read_dictionary(&root.join("fuzz/dict").join(format!("{target}.txt")));
    let budget = Duration::from_secs_f64(env_number("CAMPAIGND_FUZZ_SECONDS").unwrap_or(1.0));
    let seed = env_number("CAMPAIGND_FUZZ_SEED").map_or_else(clock_seed, |s| s as u64);

    for (name, input) in &corpus {
        if let Err(message) = run(&check, input) {
            panic!("fuzz {target}: the corpus input {name} fails: {message}");
        }
    }
    let mut rng = Rng(seed | 1);
    let started = Instant::now();
    let mut runs = 0u64;
    while started.elapsed() < budget {
        // A batch between clock reads: most checks take microseconds.
        for _ in 0..64 {
            let input = mutate(&mut rng, &corpus, &dictionary);
            runs += 1;
            if let Err(message) = run(&check, &input) {
                let saved = save_artifact(&root, target, &input);
                panic!(
                    "fuzz {target}: input {} breaks it (seed {seed}, run {runs}): {message}\n\
                     input: {:?}",
                    saved.display(),
                    String::from_utf8_lossy(&input)
                );
            }
        }
    }
    println!(
        "fuzz {target}: {} corpus inputs and {runs} mutations in {:.1}s, seed {seed}: no failure",
        corpus.len(),
        started.elapsed().as_secs_f64()
    );
}

/// Runs `check` on `input`, a panic turned into its message.
fn run(check: &impl Fn(&[u8]), input: &[u8]) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(|| check(input))).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic without a message".to_owned())
    })
}

/// The workspace, which holds `fuzz/`: two levels above this crate,
/// wherever the test runs from.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read_corpus(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut corpus: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| {
            let bytes = std::fs::read(e.path()).expect("a readable corpus file");
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    // Directory order differs between machines; the seed should not.
    corpus.sort();
    corpus
}

/// One token a line; blank lines and lines starting with `#` skipped.
/// `\n`, `\t`, `\\` and `\xHH` are unescaped, so tokens can hold any byte.
fn read_dictionary(path: &Path) -> Vec<Vec<u8>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(unescape)
        .collect()
}

fn unescape(line: &str) -> Vec<u8> {
    let bytes = line.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let (byte, width) = match (bytes[i], bytes.get(i + 1)) {
            (b'\\', Some(b'n')) => (b'\n', 2),
            (b'\\', Some(b't')) => (b'\t', 2),
            (b'\\', Some(b'\\')) => (b'\\', 2),
            (b'\\', Some(b'x')) => bytes
                .get(i + 2..i + 4)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .map_or((b'\\', 1), |b| (b, 4)),
            (b, _) => (b, 1),
        };
        out.push(byte);
        i += width;
    }
    out
}

fn env_number(name: &str) -> Option<f64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value}: expected a number")),
    )
}

fn clock_seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_secs() ^ u64::from(now.subsec_nanos()) << 20
}

fn save_artifact(root: &Path, target: &str, input: &[u8]) -> PathBuf {
    let dir = root.join("fuzz/artifacts").join(target);
    let path = dir.join(format!("crash-{:016x}", fnv1a(input)));
    // Best effort: the failure is reported with the input either way.
    let _ = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, input));
    path
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// xorshift64*: fast, and the same sequence for the same seed everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (which is not 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Bytes that sit on parsers' edges: signs, quotes, separators, escapes,
/// digits, and the first bytes of multi-byte UTF-8.
const INTERESTING: &[u8] = b"\0\t\n\r \"#%&'+,-./0123456789:;=[\\]_{}\x7f\x80\xc3\xe2\xf0\xff";

/// One corpus input with one to four mutations applied.
fn mutate(rng: &mut Rng, corpus: &[(String, Vec<u8>)], dictionary: &[Vec<u8>]) -> Vec<u8> {
    let mut input = corpus[rng.below(corpus.len())].1.clone();
    for _ in 0..=rng.below(4) {
        let len = input.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                input.insert(i, INTERESTING[rng.below(INTERESTING.len())]);
            }
            3 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(8)).min(len);
                input.drain(start..end);
            }
            4 if len > 0 => {
                // Copy a chunk elsewhere: repeats fields, nests values.
                let start = rng.below(len);
                let end = (start + 1 + rng.below(32)).min(len);
                let chunk = input[start..end].to_vec();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, chunk);
            }
            5 => {
                // Splice: the head of this input, the tail of another.
                let other = &corpus[rng.below(corpus.len())].1;
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                input.truncate(cut);
                input.extend_from_slice(&other[from..]);
            }
            6 | 7 if !dictionary.is_empty() => {
                let token = &dictionary[rng.below(dictionary.len())];
                let at = rng.below(len + 1);
                if rng.below(2) == 0 || len == 0 {
                    input.splice(at..at, token.iter().copied());
                } else {
                    let end = (at + token.len()).min(len);
                    input.splice(at..end, token.iter().copied());
                }
            }
            _ if len > 0 => {
                // Insert a number at an edge of its type.
                let at = rng.below(len + 1);
                let number = [
                    "0",
                    "-1",
                    "18446744073709551616",
                    "1e309",
                    "9223372036854775807",
                ][rng.below(5)];
                input.splice(at..at, number.bytes());
            }
            _ => input.push(INTERESTING[rng.below(INTERESTING.len())]),
        }
        input.truncate(MAX_LEN);
    }
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_lines_unescape_to_their_bytes() {
        assert_eq!(unescape(r"a\nb\tc\\d\x00\xff"), b"a\nb\tc\\d\0\xff");
        assert_eq!(unescape(r"\xzz"), b"\\xzz");
        assert_eq!(unescape(r"\x4"), b"\\x4");
    }

    #[test]
    fn the_same_seed_makes_the_same_mutations() {
        let corpus = vec![("a".to_owned(), b"{\"id\": 12}".to_vec())];
        let run = |seed| {
            let mut rng = Rng(seed);
            (0..100)
                .map(|_| mutate(&mut rng, &corpus, &[]))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(9));
        assert!(run(7).iter().all(|m| m.len() <= MAX_LEN));
    }

    #[test]
    fn a_panicking_check_is_reported_with_its_message() {
        let check = |input: &[u8]| assert!(input.len() < 3, "too long: {}", input.len());
        assert_eq!(run(&check, b"ab"), Ok(()));
        assert_eq!(run(&check, b"abcd"), Err("too long: 4".to_owned()));
    }
}
