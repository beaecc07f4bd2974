//! The matching engine: an immutable compiled indicator set and a per-thread scratch.
//!
//! Read [`IocSet`] first, then [`Scratch`] and [`Hit`]. An `IocSet` is built once by a
//! [`Compiler`] (off the hot path), then shared read-only by every worker thread; each thread
//! owns a `Scratch` with the few buffers a scan needs, so the steady state allocates nothing per
//! line. The engine knows nothing of tokio, metrics, feeds or alerts.
//!
//! # The contract
//!
//! Matching is token-bounded: an indicator matches a whole token, never a piece of one.
//!
//! | type | a log token matches when |
//! |---|---|
//! | IPv4 | a maximal run of `[A-Za-z0-9._-]` and bytes >= 0x80, with trailing dots dropped, is a dotted quad with no leading zeros (`01.2.3.4` is not an address) equal to it. A run of digits, dots and `-`/`_` only is split at the dashes first, so `1.2.3.4-1.2.3.9` holds two addresses. `1.2.3.4.5`, `v1.2.3.4` and `11.2.3.4` are not `1.2.3.4`. |
//! | IPv6 | a maximal run of hex digits, `:` and `.` with at least two colons, not touching a letter or digit, parses to the same 128-bit address (any textual form). |
//! | CIDR | an IPv4 or IPv6 token as above lies inside it; of several CIDRs, only the longest prefix is reported. An exact-address indicator is reported beside it. |
//! | domain | the dotted run (lower-cased, IDN to punycode, trailing dots dropped) equals it, or, when the indicator allows subdomains, ends with `.` + it. `notevil.com`, `evil.com.au` and `evil.community` are not `evil.com`. |
//! | URL | a run starting with `scheme://` and ending at white space, a quote, `<>\`\\|^{}` or trailing punctuation has the same [`canonical_url`] (exact mode) or starts with it (prefix mode). |
//! | md5, sha1, sha256 | a run of exactly 32, 40 or 64 hex digits, any case, with no letter or digit on either side, has the same digest. |
//! | e-mail | `local@domain`, where the local part is a maximal run of `[A-Za-z0-9._%+-]` right before the `@` and the domain is a dotted run as above; the domain part is compared lower-cased. |
//! | string | a substring, case-sensitive or ASCII-case-insensitive per indicator (Aho-Corasick). |
//!
//! A line feed or carriage return is never part of a token, so scanning a buffer of many lines
//! finds exactly what scanning each line alone finds (with offsets moved).
//!
//! # How a scan finds candidates
//!
//! Scanning every byte through an automaton of millions of literals is what `grep -F` does, and
//! it is measured to be 10-40x slower than the alternative taken here: find *anchors*, expand
//! each anchor to its token, and look the token up by type in a hash table. Every byte is
//! classified once, 64 at a time, into bit masks (`classify.rs`: AVX2 nibble lookups, SSE2
//! compares or a portable table, chosen at run time): token bytes, letters, dashes, dots,
//! colons, hex digits, slashes. Every `.` anchors a dotted token (IPv4, domains, e-mail), every
//! `:` with another colon within five bytes an IPv6 candidate, every `://` a URL, and every
//! all-hex 16-byte lane a hash (a run of 32 or more covers one); a token's ends are the nearest
//! class changes around its anchor, and what it can be (an address needs three dots and no
//! letter, an IPv6 address two colons and `::` or six) is read from the masks between its ends
//! before anything is parsed (`scan.rs`). IPv4 networks are found in a longest-prefix table
//! (`lpm.rs`). Each family runs only when the set holds an indicator of that family. Free
//! strings are the one place for Aho-Corasick, and it only ever sees the (small) set of free
//! strings.

mod arr;
mod classify;
mod compile;
mod file;
mod index;
mod lines;
mod lpm;
mod pattern;
mod scan;
mod set;
mod subset;
mod url;

pub use arr::Backing;
pub use classify::Kernel;
pub use compile::Compiler;
pub use file::{FORMAT_VERSION, FileError, SetFile, fuzzing_reseal};
pub use lines::for_each_hit_line;
pub use pattern::parse_ipv4;
pub use pattern::{IocKind, Pattern};
#[doc(hidden)]
pub use pattern::{N_TABLES, Table};
pub use set::{Context, Feed, Hit, IocId, IocSet, Meta, Scratch, SourceRef, Technique, Tlp};
pub use url::canonical_url;
