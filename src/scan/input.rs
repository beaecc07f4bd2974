//! The inputs of a scan as an analyst has them: files compressed or not, folders, standard
//! input.
//!
//! [`expand`] turns the command line's paths into the list of inputs, in a stable order:
//! each argument in turn, a folder walked recursively with its entries sorted by name
//! (hidden files and folders skipped unless asked, `--glob` patterns applied to what the walk
//! finds), symbolic links inside a folder not followed (so a link loop cannot trap the walk).
//! A path that cannot be read is an [`Input::Failed`] in its place, to be reported once while
//! the scan goes on with the others.
//!
//! [`decompressed`] reads gzip, zstd, bzip2 and xz transparently, told apart by their magic
//! bytes, never by the file name (rotated logs are named anything). It streams: memory stays
//! the decoders' fixed windows whatever the input, so a decompression bomb costs time, not
//! memory, and the reader thread of the scan does the decompressing, off the matcher threads.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use globset::{Glob, GlobSet, GlobSetBuilder};

/// A compression format, by its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Bzip2,
    Xz,
}

impl Compression {
    /// The format whose magic bytes `head` starts with.
    pub(crate) fn detect(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            [b'B', b'Z', b'h', b'1'..=b'9', ..] => Compression::Bzip2,
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Xz,
            _ => Compression::None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
        }
    }
}

/// Bytes needed to tell the formats apart.
const MAGIC: usize = 6;

/// `raw`, decompressed when it starts with the magic bytes of a format [`Compression`] knows.
///
/// Concatenated members (`cat a.gz b.gz`, multi-frame zstd, multi-stream bzip2 and xz) are read
/// to the end, as `zcat` does. A corrupt stream is a read error of the returned reader.
pub fn decompressed<R: Read + Send + 'static>(
    mut raw: R,
) -> io::Result<(Box<dyn Read + Send>, Compression)> {
    let mut head = Vec::with_capacity(MAGIC);
    // A pipe may hand over fewer bytes than asked: read until there are enough, or the end.
    while head.len() < MAGIC {
        let mut byte = [0u8; MAGIC];
        let want = MAGIC - head.len();
        match raw.read(&mut byte[..want]) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&byte[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let kind = Compression::detect(&head);
    let whole = io::Cursor::new(head).chain(raw);
    let reader: Box<dyn Read + Send> = match kind {
        Compression::None => Box::new(whole),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(whole)?),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(whole)),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(whole)),
    };
    Ok((reader, kind))
}

/// A reader that counts the bytes read through it into a shared counter: what a progress
/// bar shows of a compressed file is how much of the file was read, not what it holds.
pub struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R> Counted<R> {
    pub fn new(inner: R, count: Arc<AtomicU64>) -> Counted<R> {
        Counted { inner, count }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// What the walk keeps of the files it finds in folders.
#[derive(Clone, Debug, Default)]
pub struct WalkOptions {
    /// Also files and folders whose name starts with `.`.
    pub hidden: bool,
    /// Patterns a found file's path (relative to the folder given) must match; a leading `!`
    /// excludes instead. Empty: every file.
    pub globs: Globs,
}

/// `--glob` patterns: a file is kept when it matches an include pattern (or there are none)
/// and no exclude (`!`) pattern.
#[derive(Clone, Debug, Default)]
pub struct Globs {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

impl Globs {
    /// From patterns as given on the command line (`*.log`, `!*.1.gz`, `nginx/**`).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Globs, globset::Error> {
        let (mut inc, mut exc) = (GlobSetBuilder::new(), GlobSetBuilder::new());
        let (mut n_inc, mut n_exc) = (0, 0);
        for p in patterns {
            let p = p.as_ref();
            match p.strip_prefix('!') {
                Some(x) => {
                    exc.add(Glob::new(x)?);
                    n_exc += 1;
                }
                None => {
                    inc.add(Glob::new(p)?);
                    n_inc += 1;
                }
            }
        }
        Ok(Globs {
            include: (n_inc > 0).then(|| inc.build()).transpose()?,
            exclude: (n_exc > 0).then(|| exc.build()).transpose()?,
        })
    }

    /// Whether a file found at `rel` (relative to the folder walked) is kept. A pattern
    /// matches the relative path or the file name alone.
    pub fn allows(&self, rel: &Path) -> bool {
        let name = rel.file_name().map(Path::new).unwrap_or(rel);
        let hit = |s: &GlobSet| s.is_match(rel) || s.is_match(name);
        self.include.as_ref().is_none_or(hit) && !self.exclude.as_ref().is_some_and(hit)
    }
}

/// One input of a scan, in the order it is scanned.
#[derive(Debug)]
pub enum Input {
    /// Standard input (`-`, or no path at all).
    Stdin,
    /// A file: given, or found in a folder.
    File(PathBuf),
    /// A path that could not be read or walked: reported, and the scan goes on.
    Failed(PathBuf, io::Error),
}

/// The inputs that `paths` name, in order; standard input when `paths` is empty.
pub fn expand(paths: &[PathBuf], opts: &WalkOptions) -> Vec<Input> {
    if paths.is_empty() {
        return vec![Input::Stdin];
    }
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            out.push(Input::Stdin);
            continue;
        }
        match std::fs::metadata(p) {
            Err(e) => out.push(Input::Failed(p.clone(), e)),
            Ok(m) if m.is_dir() => walk(p, opts, &mut out),
            // A file, a FIFO, a device: what the user named is read as it is.
            Ok(_) => out.push(Input::File(p.clone())),
        }
    }
    out
}

fn walk(root: &Path, opts: &WalkOptions, out: &mut Vec<Input>) {
    let hidden = |e: &walkdir::DirEntry| {
        e.depth() > 0 && e.file_name().to_str().is_some_and(|n| n.starts_with('.'))
    };
    let entries = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| opts.hidden || !hidden(e));
    for entry in entries {
        match entry {
            Err(e) => {
                let path = e.path().unwrap_or(root).to_path_buf();
                let err = e
                    .into_io_error()
                    .unwrap_or_else(|| io::Error::other("file system loop"));
                out.push(Input::Failed(path, err));
            }
            Ok(e) if e.file_type().is_file() => {
                let rel = e.path().strip_prefix(root).unwrap_or(e.path());
                if opts.globs.allows(rel) {
                    out.push(Input::File(e.into_path()));
                }
            }
            // Folders are walked; links and special files inside a folder are not read.
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(kind: Compression, data: &[u8]) -> Vec<u8> {
        let packed: Vec<u8> = match kind {
            Compression::None => data.to_vec(),
            Compression::Gzip => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Zstd => zstd::encode_all(data, 3).unwrap(),
            Compression::Bzip2 => {
                let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Xz => {
                let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
        };
        // Twice in a row: concatenated members are read to the end.
        let twice = [packed.clone(), packed].concat();
        let (mut r, found) = decompressed(io::Cursor::new(twice)).unwrap();
        assert_eq!(found, kind);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn every_format_by_its_magic_bytes() {
        let data = b"Mar 29 10:42:45 h sshd[1]: from 45.61.136.7\n".repeat(100);
        for kind in [
            Compression::None,
            Compression::Gzip,
            Compression::Zstd,
            Compression::Bzip2,
            Compression::Xz,
        ] {
            assert_eq!(
                roundtrip(kind, &data),
                [&data[..], &data[..]].concat(),
                "{kind:?}"
            );
        }
        // Shorter than the magic bytes, or empty: read as they are.
        for short in [&b""[..], b"a", b"\x1f"] {
            let (mut r, k) = decompressed(io::Cursor::new(short.to_vec())).unwrap();
            assert_eq!(k, Compression::None);
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, short);
        }
    }

    #[test]
    fn a_corrupt_stream_is_a_read_error() {
        let mut bad = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        bad.extend_from_slice(&[0xff; 64]);
        let (mut r, _) = decompressed(io::Cursor::new(bad)).unwrap();
        assert!(r.read_to_end(&mut Vec::new()).is_err());
    }

    /// A reader that hands over one byte per call, as a slow pipe may.
    struct Trickle(io::Cursor<Vec<u8>>);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(1);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn magic_bytes_split_across_reads() {
        let packed = zstd::encode_all(&b"x 1.2.3.4\n"[..], 3).unwrap();
        let (mut r, k) = decompressed(Trickle(io::Cursor::new(packed))).unwrap();
        assert_eq!(k, Compression::Zstd);
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!(out, "x 1.2.3.4\n");
    }

    fn names(inputs: &[Input], root: &Path) -> Vec<String> {
        inputs
            .iter()
            .map(|i| match i {
                Input::Stdin => "-".to_owned(),
                Input::File(p) => p.strip_prefix(root).unwrap().display().to_string(),
                Input::Failed(p, _) => format!("failed {}", p.display()),
            })
            .collect()
    }

    #[test]
    fn folders_walked_in_name_order_hidden_and_links_skipped() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for f in [
            "b.log",
            "a.log.1.gz",
            "sub/z.log",
            "sub/a.txt",
            ".hid/x.log",
            ".h.log",
        ] {
            let p = r.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "x").unwrap();
        }
        // A link back to the root: a loop if it were followed.
        std::os::unix::fs::symlink(r, r.join("sub/loop")).unwrap();
        let all = expand(&[r.to_path_buf()], &WalkOptions::default());
        assert_eq!(
            names(&all, r),
            ["a.log.1.gz", "b.log", "sub/a.txt", "sub/z.log"]
        );
        let hidden = WalkOptions {
            hidden: true,
            ..WalkOptions::default()
        };
        assert_eq!(expand(&[r.to_path_buf()], &hidden).len(), 6);
        let globs = WalkOptions {
            globs: Globs::new(&["*.log*", "!*.gz"]).unwrap(),
            ..WalkOptions::default()
        };
        assert_eq!(
            names(&expand(&[r.to_path_buf()], &globs), r),
            ["b.log", "sub/z.log"]
        );
        let sub = WalkOptions {
            globs: Globs::new(&["sub/**"]).unwrap(),
            ..WalkOptions::default()
        };
        assert_eq!(
            names(&expand(&[r.to_path_buf()], &sub), r),
            ["sub/a.txt", "sub/z.log"]
        );
        // Arguments keep their order; a missing one is in its place.
        let args = [r.join("sub/z.log"), r.join("nope"), PathBuf::from("-")];
        let got = expand(&args, &WalkOptions::default());
        assert_eq!(
            names(&got, r),
            [
                "sub/z.log",
                format!("failed {}", r.join("nope").display()).as_str(),
                "-"
            ]
        );
        assert!(matches!(
            expand(&[], &WalkOptions::default())[..],
            [Input::Stdin]
        ));
    }
}
