//! A byte mutator in the manner of libFuzzer's: small random edits of seed inputs, with a
//! dictionary of tokens that tend to find edge cases in JSON parsers and number handling.

use vigil_demo::Rng;

/// Tokens spliced into inputs.
const DICTIONARY: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"\xff",
    b"\xc3",
    b"null",
    b"true",
    b"false",
    b"-0",
    b"0",
    b"1e308",
    b"-1e308",
    b"1e15",
    b"1e16",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"18446744073709551616",
    b"0.1e-400",
    b"NaN",
    b"Infinity",
    b"\"type\":\"error\"",
    b"\"type\":\"view\"",
    b"\"type\":\"vital\"",
    b"\"attributes\":{\"a\":1}",
    b"\"ts\":",
    b"\"events\":[",
    b"\"v\":1",
    b"\"value\":",
    b"\"op\":\"in\"",
    b"\"op\":\"contains\"",
    b"\"field\":\"attributes.x\"",
    b"time:1m",
    b"time:999999999999999m",
    b"'",
    b"''",
    b"\";DROP",
    b"\xef\xbb\xbf",
];

/// Mutates `input` in place with 1–8 random edits, using `others` for splicing.
pub fn mutate(rng: &mut Rng, input: &mut Vec<u8>, others: &[Vec<u8>], max_len: usize) {
    let edits = 1 + rng.below(8);
    for _ in 0..edits {
        let len = input.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = rng.below(256) as u8;
            }
            2 => {
                let token = DICTIONARY[rng.below(DICTIONARY.len())];
                let at = rng.below(len + 1);
                input.splice(at..at, token.iter().copied());
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(64));
                input.drain(at..at + n);
            }
            4 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(256));
                let chunk: Vec<u8> = input[at..at + n].to_vec();
                let to = rng.below(len + 1);
                input.splice(to..to, chunk);
            }
            5 if !others.is_empty() => {
                let other = &others[rng.below(others.len())];
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let n = 1 + rng.below((other.len() - from).min(512));
                    let at = rng.below(len + 1);
                    input.splice(at..at, other[from..from + n].iter().copied());
                }
            }
            6 if len > 0 => input.truncate(rng.below(len)),
            7 => {
                // A run of one byte: long strings, deep nesting.
                let byte = [b'[', b'{', b'a', b'9', b'\\'][rng.below(5)];
                let n = 1 + rng.below(20_000);
                let at = rng.below(len + 1);
                input.splice(at..at, std::iter::repeat_n(byte, n));
            }
            _ => {
                // Replace a digit run with an interesting number.
                if let Some(at) = (0..len)
                    .map(|_| rng.below(len))
                    .find(|&i| input[i].is_ascii_digit())
                {
                    let end = (at..len)
                        .find(|&i| !input[i].is_ascii_digit())
                        .unwrap_or(len);
                    let token = DICTIONARY[17 + rng.below(8)];
                    input.splice(at..end, token.iter().copied());
                }
            }
        }
    }
    input.truncate(max_len);
}
