//! Whether the upload zip holds the APK deflated (`--compress auto|always|never`). An APK is not
//! all compressed: since AGP 3.6 native libraries are stored uncompressed (and page-aligned, so
//! the device maps them), and `resources.arsc` always is. Deflating them halves many uploads, but
//! costs the time to compress: worth it on a slow link, not on a fast one. `auto` weighs the two
//! from the APK's own stored entries (their size, and how well and how fast a sample deflates)
//! and the rate earlier uploads to the same host were sent at, kept beside the target cache.
//! How an APK was sent does not change which target it is: the cache key stays its content hash.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::package::Compress;

/// How one APK is sent, and why, as `-v` and `--dry-run` say it.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub deflate: bool,
    pub why: String,
}

/// The rate assumed for a host no upload was measured to yet: 100 Mbit/s, so that before the
/// first measurement only an APK with much to gain is deflated.
pub const DEFAULT_RATE: f64 = 100e6 / 8.0;

/// Deflating must be estimated to take at most this share of the stored upload's time: the
/// estimate is rough, and a wrong "deflate" costs CPU for nothing.
const WORTH: f64 = 0.85;

/// Less than this stored is not worth a look.
const MIN_STORED: u64 = 1 << 20;

/// How much of the stored entries is deflated to estimate the ratio and the speed.
const SAMPLE: u64 = 4 << 20;
const SAMPLE_PER_ENTRY: u64 = 512 << 10;

/// Faster than deflate at level 1 goes on one core: 4 × the 80–130 MB/s measured here
/// (bench/slow-link.sh). On a link at least this fast deflating cannot pay, and the APK is not
/// even opened; where sending every stored byte beats deflating the whole APK at this speed, it
/// is not sampled.
const MAX_SPEED: f64 = 500e6;

/// An APK's entries stored uncompressed (of at least 4 KiB): their sizes and where their local
/// headers are, largest first. From the zip's directory alone (`apk::container::entries`, two
/// reads whatever the number of entries): on a fast link this is all `auto` costs.
fn stored_entries(apk: &Path) -> io::Result<Vec<(u64, u64)>> {
    let mut file = io::BufReader::new(std::fs::File::open(apk)?);
    let (_, entries) = crate::apk::container::entries(&mut file).map_err(io::Error::other)?;
    let mut stored: Vec<(u64, u64)> = entries
        .into_iter()
        .filter(|e| e.method == 0 && e.size >= 4096)
        .map(|e| (e.size, e.local))
        .collect();
    stored.sort_by(|a, b| b.cmp(a));
    Ok(stored)
}

/// Where an entry's data starts: after its local header, name and extra field (zipalign's
/// padding lives there).
fn data_start(file: &mut std::fs::File, local: u64) -> io::Result<u64> {
    let mut header = [0u8; 30];
    file.seek(SeekFrom::Start(local))?;
    file.read_exact(&mut header)?;
    let skip = u64::from(u16::from_le_bytes([header[26], header[27]]))
        + u64::from(u16::from_le_bytes([header[28], header[29]]));
    Ok(local + 30 + skip)
}

/// Deflates a sample of the stored entries (at most [`SAMPLE`] bytes, level 1 as the upload
/// would): the deflated size over the original, and the bytes per second.
fn sample(apk: &Path, stored: &[(u64, u64)]) -> io::Result<(f64, f64)> {
    let mut file = std::fs::File::open(apk)?;
    let mut sink = Counted(0);
    let mut encoder = flate2::write::DeflateEncoder::new(&mut sink, flate2::Compression::new(1));
    let (mut sampled, mut buf) = (0u64, vec![0u8; SAMPLE_PER_ENTRY as usize]);
    let started = Instant::now();
    for &(size, local) in stored {
        if sampled >= SAMPLE {
            break;
        }
        let take = size.min(SAMPLE_PER_ENTRY).min(SAMPLE - sampled) as usize;
        let start = data_start(&mut file, local)?;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..take])?;
        encoder.write_all(&buf[..take])?;
        sampled += take as u64;
    }
    encoder.finish()?;
    let elapsed = started.elapsed().max(Duration::from_micros(100));
    let ratio = match sampled {
        0 => 1.0,
        n => sink.0 as f64 / n as f64,
    };
    Ok((ratio, sampled as f64 / elapsed.as_secs_f64()))
}

/// A writer that only counts.
struct Counted(u64);

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Stored or deflated, for an APK of `size` bytes at `apk`, sent to a host measured at `rate`
/// bytes per second (`None`: not measured yet).
pub fn choose(compress: Compress, apk: &Path, size: u64, rate: Option<f64>) -> Choice {
    let stored = |why: String| Choice {
        deflate: false,
        why,
    };
    match compress {
        Compress::Never => return stored("stored (--compress never)".into()),
        Compress::Always => {
            return Choice {
                deflate: true,
                why: "deflated (--compress always)".into(),
            };
        }
        Compress::Auto => {}
    }
    let (link, measured) = match rate {
        Some(r) if r > 0.0 => (r, "measured"),
        _ => (DEFAULT_RATE, "assumed before a measurement"),
    };
    let mbit = link * 8.0 / 1e6;
    if link >= MAX_SPEED {
        return stored(format!(
            "stored: at {mbit:.0} Mbit/s ({measured}) no deflate is faster than sending it"
        ));
    }
    let entries = match stored_entries(apk) {
        Ok(entries) => entries,
        Err(e) => return stored(format!("stored: its entries could not be read ({e})")),
    };
    let total: u64 = entries.iter().map(|(size, _)| size).sum();
    if total < MIN_STORED {
        return stored(format!(
            "stored: it keeps only {} uncompressed",
            crate::words::size(total)
        ));
    }
    let size_f = size as f64;
    // Sending every stored byte takes less than the fastest deflate of the whole APK: nothing to
    // sample (a fast link, loopback).
    if total as f64 / link <= size_f / MAX_SPEED {
        return stored(format!(
            "stored: at {mbit:.0} Mbit/s ({measured}) its {} uncompressed go faster than any deflate",
            crate::words::size(total)
        ));
    }
    let (ratio, speed) = match sample(apk, &entries) {
        Ok(sampled) => sampled,
        Err(e) => return stored(format!("stored: its entries could not be sampled ({e})")),
    };
    let saved = total as f64 * (1.0 - ratio).max(0.0);
    let as_stored = size_f / link;
    // The whole APK goes through the compressor; what it saves is the stored entries' share.
    let as_deflated = size_f / speed + (size_f - saved) / link;
    if as_deflated <= WORTH * as_stored {
        Choice {
            deflate: true,
            why: format!(
                "deflated: {} → about {}, est. {:.0} s saved at {mbit:.0} Mbit/s ({measured})",
                crate::words::size(size),
                crate::words::size((size_f - saved) as u64),
                as_stored - as_deflated
            ),
        }
    } else {
        stored(format!(
            "stored: deflating would save about {} of {} but take longer than sending it at {mbit:.0} Mbit/s ({measured})",
            crate::words::size(saved as u64),
            crate::words::size(size)
        ))
    }
}

/// The file beside the target cache where each host's measured upload rate is kept.
const RATES: &str = "upload-rates-v1.json";

/// An upload shorter than this says more about latency than about the link.
const MIN_MEASURED: u64 = 8 << 20;

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Rates {
    /// Bytes per second, by host (and port).
    hosts: BTreeMap<String, f64>,
}

/// The rate the last long enough upload to `host` was sent at, if one was measured.
pub fn measured_rate(cache_dir: &Path, host: &str) -> Option<f64> {
    let text = std::fs::read(cache_dir.join(RATES)).ok()?;
    let rates: Rates = serde_json::from_slice(&text).ok()?;
    rates.hosts.get(host).copied().filter(|r| *r > 0.0)
}

/// Keeps the rate `bytes` in `elapsed` for `host`. A failure costs only the next estimate.
pub fn record_rate(cache_dir: &Path, host: &str, bytes: u64, elapsed: Duration) -> io::Result<()> {
    if bytes < MIN_MEASURED || elapsed.is_zero() {
        return Ok(());
    }
    let path = cache_dir.join(RATES);
    let mut rates: Rates = std::fs::read(&path)
        .ok()
        .and_then(|t| serde_json::from_slice(&t).ok())
        .unwrap_or_default();
    rates
        .hosts
        .insert(host.to_owned(), bytes as f64 / elapsed.as_secs_f64());
    let text = serde_json::to_vec_pretty(&rates).map_err(io::Error::other)?;
    crate::atomic::write(&path, crate::atomic::Readers::Owner, &text)
}

/// The host (and port) a presigned URL sends to: what a measured rate is kept under.
pub fn host_of(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    #[test]
    fn the_directory_gives_the_stored_entries_and_their_data_behind_the_alignment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.apk");
        let mut w = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let stored =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        let deflated =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let lib: Vec<u8> = (0..10_240u32).map(|i| (i % 7) as u8).collect();
        w.start_file("classes.dex", deflated).unwrap();
        w.write_all(&[1; 20_000]).unwrap();
        w.start_file("res/small.png", stored).unwrap();
        w.write_all(&[2; 100]).unwrap();
        w.start_file("lib/x86_64/libapp.so", stored.with_alignment(4096))
            .unwrap();
        w.write_all(&lib).unwrap();
        w.set_comment("a comment after the directory").unwrap();
        w.finish().unwrap();

        let entries = stored_entries(&path).unwrap();
        assert_eq!(entries.len(), 1, "{entries:?}");
        let (size, local) = entries[0];
        assert_eq!(size, lib.len() as u64);
        let mut file = std::fs::File::open(&path).unwrap();
        let start = data_start(&mut file, local).unwrap();
        assert_eq!(start % 4096, 0);
        let mut data = vec![0u8; lib.len()];
        file.seek(SeekFrom::Start(start)).unwrap();
        file.read_exact(&mut data).unwrap();
        assert!(data == lib);
        let (ratio, speed) = sample(&path, &entries).unwrap();
        assert!(ratio < 0.1 && speed > 0.0, "{ratio} {speed}");
        // Not a zip: an error, which `auto` answers with stored.
        std::fs::write(&path, b"not a zip").unwrap();
        assert!(stored_entries(&path).is_err());
        let choice = choose(Compress::Auto, &path, 9, None);
        assert!(
            !choice.deflate && choice.why.contains("could not be read"),
            "{choice:?}"
        );
    }

    #[test]
    fn a_link_faster_than_any_deflate_sends_stored_without_opening_the_apk() {
        let missing = Path::new("/nonexistent/app.apk");
        let choice = choose(Compress::Auto, missing, 100 << 20, Some(1e9));
        assert!(!choice.deflate);
        assert!(choice.why.contains("no deflate is faster"), "{choice:?}");
        assert!(choose(Compress::Always, missing, 1, None).deflate);
        assert!(!choose(Compress::Never, missing, 1, Some(1.0)).deflate);
    }
}
