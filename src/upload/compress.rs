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

/// `--compress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compress {
    /// Deflate when the estimate says it saves time.
    #[default]
    Auto,
    Always,
    Never,
}

impl std::str::FromStr for Compress {
    type Err = String;

    fn from_str(s: &str) -> Result<Compress, String> {
        match s.trim() {
            "auto" => Ok(Compress::Auto),
            "always" => Ok(Compress::Always),
            "never" => Ok(Compress::Never),
            other => Err(format!("{other:?} is not one of auto, always, never")),
        }
    }
}

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

/// The fastest deflate at level 1 could go on one core: faster than any measured. A link so fast
/// that even this could not pay is not sampled at all.
const MAX_SPEED: f64 = 1e9;

/// An APK's entries stored uncompressed (of at least 4 KiB): their sizes and where their data
/// starts, largest first, read from the zip's directory only.
fn stored_entries(apk: &Path) -> io::Result<Vec<(u64, u64)>> {
    let file = std::fs::File::open(apk)?;
    let mut archive = zip::ZipArchive::new(io::BufReader::new(file)).map_err(io::Error::other)?;
    let mut stored: Vec<(u64, u64)> = Vec::new();
    for i in 0..archive.len() {
        let Ok(entry) = archive.by_index_raw(i) else {
            continue;
        };
        if entry.compression() == zip::CompressionMethod::Stored
            && entry.size() >= 4096
            && let Some(start) = entry.data_start()
        {
            stored.push((entry.size(), start));
        }
    }
    stored.sort_by(|a, b| b.cmp(a));
    Ok(stored)
}

/// Deflates a sample of the stored entries (at most [`SAMPLE`] bytes, level 1 as the upload
/// would): the deflated size over the original, and the bytes per second.
fn sample(apk: &Path, stored: &[(u64, u64)]) -> io::Result<(f64, f64)> {
    let mut file = std::fs::File::open(apk)?;
    let mut sink = Counted(0);
    let mut encoder = flate2::write::DeflateEncoder::new(&mut sink, flate2::Compression::new(1));
    let (mut sampled, mut buf) = (0u64, vec![0u8; SAMPLE_PER_ENTRY as usize]);
    let started = Instant::now();
    for &(size, start) in stored {
        if sampled >= SAMPLE {
            break;
        }
        let take = size.min(SAMPLE_PER_ENTRY).min(SAMPLE - sampled) as usize;
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
    let (link, measured) = match rate {
        Some(r) if r > 0.0 => (r, "measured"),
        _ => (DEFAULT_RATE, "assumed before a measurement"),
    };
    let mbit = link * 8.0 / 1e6;
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
