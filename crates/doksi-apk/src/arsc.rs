//! Just enough of the compiled resource table (`resources.arsc`, `ResTable` in Android) to turn a
//! manifest reference like `@string/app_name` (0x7f040000) into its value for the default locale,
//! the way `aapt dump badging` prints `application-label`. Pure and total like the XML decoder; it
//! walks chunks in place and decodes only the strings it returns.

use std::cell::Cell;

use super::chunk::{Chunk, Chunks, FormatError, Problem, Value, kind, u8_at, u16_at, u32_at};
use super::pool::StringPool;

const WHAT: &str = "resource table";
const FLAG_COMPLEX: u16 = 0x0001;
const FLAG_COMPACT: u16 = 0x0008;
const TYPE_FLAG_SPARSE: u8 = 0x01;
const TYPE_FLAG_OFFSET16: u8 = 0x02;
/// References that point at references: Android follows a handful; a cycle must not spin.
const MAX_HOPS: usize = 8;
/// Steps (chunks visited, sparse entries scanned) that all lookups in one table may take, on top
/// of one per byte of the table. A lookup walks the package, so it costs up to the table's size;
/// a manifest can ask for one per element, and ten thousand references into a table of a hundred
/// thousand type chunks (both deflate to a few kilobytes) would take hours. Real manifests ask
/// for a handful of labels and names, a few thousand steps each.
const WORK_FLOOR: usize = 1 << 20;

/// A resolved resource value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    String(String),
    Value(Value),
}

pub struct ResourceTable<'a> {
    strings: StringPool<'a>,
    packages: Vec<Chunk<'a>>,
    /// Steps left for lookups (see [`WORK_FLOOR`]); once spent, every lookup is an error.
    work: Cell<usize>,
}

impl<'a> ResourceTable<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Self, FormatError> {
        let table = Chunk::at(data, 0, 0, 12, WHAT)?;
        if table.kind != kind::TABLE {
            return Err(table.error(WHAT, Problem::Other("not a resource table")));
        }
        let mut strings = None;
        let mut packages = Vec::new();
        for chunk in Chunks::new(table.body(), table.header_size, WHAT) {
            let chunk = chunk?;
            match chunk.kind {
                kind::STRING_POOL if strings.is_none() => {
                    strings = Some(StringPool::parse(&chunk)?)
                }
                kind::TABLE_PACKAGE => packages.push(chunk),
                _ => {}
            }
        }
        let strings =
            strings.ok_or_else(|| table.error(WHAT, Problem::Other("no value string pool")))?;
        Ok(ResourceTable {
            strings,
            packages,
            work: Cell::new(data.len().saturating_add(WORK_FLOOR)),
        })
    }

    /// The value of resource `id` for a default device (no locale), following references.
    /// `Ok(None)` means the table has no usable value for it.
    pub fn resolve(&self, id: u32) -> Result<Option<Resolved>, FormatError> {
        let mut id = id;
        for _ in 0..MAX_HOPS {
            let Some(value) = self.lookup(id)? else {
                return Ok(None);
            };
            match value.kind {
                Value::STRING => return Ok(Some(Resolved::String(self.strings.get(value.data)?))),
                k if k == Value::REFERENCE || k == Value::DYNAMIC_REFERENCE => id = value.data,
                Value::NULL => return Ok(None),
                _ => return Ok(Some(Resolved::Value(value))),
            }
        }
        Ok(None)
    }

    /// Takes `steps` from the work budget, or says the lookups have outgrown the table.
    fn spend(&self, steps: usize) -> Result<(), FormatError> {
        let left = self.work.get().checked_sub(steps).ok_or_else(|| {
            FormatError::new(
                WHAT,
                0,
                Problem::Other("lookups take more steps than the table's size allows"),
            )
        })?;
        self.work.set(left);
        Ok(())
    }

    /// The best entry for `id` among all configurations, or `None`.
    fn lookup(&self, id: u32) -> Result<Option<Value>, FormatError> {
        let (pkg_id, type_id, entry) =
            (id >> 24, ((id >> 16) & 0xff) as u8, (id & 0xffff) as usize);
        let mut best: Option<(ConfigRank, Value)> = None;
        for pkg in &self.packages {
            if pkg.header_size < 12 || u32_at(pkg.bytes, 8) != Some(pkg_id) {
                continue;
            }
            for chunk in Chunks::new(pkg.body(), pkg.offset + pkg.header_size, WHAT) {
                self.spend(1)?;
                let chunk = chunk?;
                if chunk.kind != kind::TABLE_TYPE || u8_at(chunk.bytes, 8) != Some(type_id) {
                    continue;
                }
                let Some(rank) = ConfigRank::of(chunk.header().get(20..).unwrap_or(&[])) else {
                    continue;
                };
                if best.as_ref().is_some_and(|(r, _)| *r >= rank) {
                    continue;
                }
                if let Some(v) = entry_value(&chunk, entry, |n| self.spend(n))? {
                    best = Some((rank, v));
                }
            }
        }
        Ok(best.map(|(_, v)| v))
    }
}

/// Reads entry `index` of a type chunk (`ResTable_type`): dense 32-bit offsets, 16-bit offsets,
/// or sparse (index, offset) pairs, then the entry, compact or not. Bags (styles) have no value.
/// A sparse scan reports the pairs it read to `spend`, which may stop it.
fn entry_value(
    chunk: &Chunk<'_>,
    index: usize,
    spend: impl Fn(usize) -> Result<(), FormatError>,
) -> Result<Option<Value>, FormatError> {
    const WHAT: &str = "resource type";
    let b = chunk.bytes;
    let trunc = || chunk.error(WHAT, Problem::Truncated);
    let flags = u8_at(b, 9).ok_or_else(trunc)?;
    let count = u32_at(b, 12).ok_or_else(trunc)? as usize;
    let entries_start = u32_at(b, 16).ok_or_else(trunc)? as usize;
    let table = chunk.header_size;
    let offset = if flags & TYPE_FLAG_SPARSE != 0 {
        // Sorted by index; a linear scan is bounded by the chunk and fine for one lookup, and
        // the pairs it reads count against the table's work budget.
        let mut scanned = 0;
        let found = (0..count)
            .map_while(|i| Some((u16_at(b, table + 4 * i)?, u16_at(b, table + 4 * i + 2)?)))
            .inspect(|_| scanned += 1)
            .find(|(i, _)| usize::from(*i) == index)
            .map(|(_, off)| usize::from(off) * 4);
        spend(scanned)?;
        found
    } else if index >= count {
        None
    } else if flags & TYPE_FLAG_OFFSET16 != 0 {
        u16_at(b, table + 2 * index)
            .filter(|&o| o != 0xffff)
            .map(|o| usize::from(o) * 4)
    } else {
        u32_at(b, table + 4 * index)
            .filter(|&o| o != u32::MAX)
            .map(|o| o as usize)
    };
    let Some(offset) = offset else {
        return Ok(None);
    };
    let at = entries_start.checked_add(offset).ok_or_else(trunc)?;
    let size = usize::from(u16_at(b, at).ok_or_else(trunc)?);
    let eflags = u16_at(b, at + 2).ok_or_else(trunc)?;
    if eflags & FLAG_COMPACT != 0 {
        let data = u32_at(b, at + 4).ok_or_else(trunc)?;
        return Ok(Some(Value {
            kind: (eflags >> 8) as u8,
            data,
        }));
    }
    if eflags & FLAG_COMPLEX != 0 {
        return Ok(None);
    }
    Value::at(b, at + size).map(Some).ok_or_else(trunc)
}

/// How well a configuration suits the device `aapt dump badging` pretends to be (no locale,
/// portrait, mdpi, 320x480dp, API 10000): `None` if it does not match at all, else a rank where
/// greater is more specific, following the order of `ResTable_config::isBetterThan`. A bundle's
/// `resources.pb` ranks its configurations with this too (`proto_table`), so APKs and bundles
/// pick the same label.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ConfigRank {
    pub(crate) smallest_width: u16,
    pub(crate) width: u16,
    pub(crate) height: u16,
    pub(crate) layout_size: u8,
    pub(crate) orientation: u8,
    pub(crate) density_exact: bool,
    pub(crate) sdk: u16,
}

impl ConfigRank {
    /// This rank, if the qualifiers it ranks do not rule the default device out (a landscape,
    /// large-screen or 600dp-wide configuration does).
    pub(crate) fn on_default_device(self) -> Option<ConfigRank> {
        let fits = self.orientation <= 1
            && self.layout_size <= 2
            && self.smallest_width <= 320
            && self.width <= 320
            && self.height <= 480;
        fits.then_some(self)
    }

    /// Ranks a `ResTable_config` (the bytes of one, its own size first).
    fn of(c: &[u8]) -> Option<ConfigRank> {
        let size = u32_at(c, 0)? as usize;
        let c = c.get(..size.min(c.len()))?;
        let byte = |o: usize| u8_at(c, o).unwrap_or(0);
        let half = |o: usize| u16_at(c, o).unwrap_or(0);
        let zero = |r: std::ops::Range<usize>| r.into_iter().all(|o| byte(o) == 0);
        // mcc/mnc, locale, touchscreen, keyboard/navigation/input, pixel sizes, script/variant and
        // everything after must be unset; a config that sets them does not match the device.
        if !zero(4..12) || byte(13) != 0 || !zero(16..24) || !zero(36..48) {
            return None;
        }
        if c.len() > 49 && !zero(49..c.len()) {
            return None;
        }
        let orientation = byte(12);
        let layout = byte(28);
        let (layout_size, rest) = (layout & 0x0f, layout & 0xf0);
        let (sw, w, h) = (half(30), half(32), half(34));
        if rest != 0 || byte(29) != 0 || byte(48) != 0 {
            return None;
        }
        ConfigRank {
            smallest_width: sw,
            width: w,
            height: h,
            layout_size,
            orientation,
            density_exact: half(14) == 160,
            sdk: half(24),
        }
        .on_default_device()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locale_configs_do_not_match_the_default_device() {
        let mut c = vec![0u8; 64];
        c[0] = 64;
        assert!(ConfigRank::of(&c).is_some());
        c[8] = b'f';
        c[9] = b'r';
        assert!(ConfigRank::of(&c).is_none());
    }

    #[test]
    fn newer_sdk_config_wins_over_plain() {
        let mut a = vec![0u8; 64];
        a[0] = 64;
        let mut b = a.clone();
        b[24] = 21;
        assert!(ConfigRank::of(&b) > ConfigRank::of(&a));
    }

    /// A table whose one package holds `types` type chunks of type 4, each with no entries and
    /// the default configuration: every lookup of 0x7f04xxxx walks all of them and finds nothing.
    fn many_empty_types(types: usize) -> Vec<u8> {
        let mut pkg = 0x200u16.to_le_bytes().to_vec();
        pkg.extend(12u16.to_le_bytes());
        pkg.extend((12 + 84 * types as u32).to_le_bytes());
        pkg.extend(0x7fu32.to_le_bytes());
        for _ in 0..types {
            pkg.extend(0x201u16.to_le_bytes());
            pkg.extend(84u16.to_le_bytes());
            pkg.extend(84u32.to_le_bytes());
            pkg.extend([4, 0, 0, 0]);
            pkg.extend(0u32.to_le_bytes());
            pkg.extend(84u32.to_le_bytes());
            pkg.extend(64u32.to_le_bytes());
            pkg.extend([0; 60]);
        }
        let mut body = crate::pool::tests::pool_bytes(&["x"], false);
        body.extend(pkg);
        let mut v = 2u16.to_le_bytes().to_vec();
        v.extend(12u16.to_le_bytes());
        v.extend((12 + body.len() as u32).to_le_bytes());
        v.extend(1u32.to_le_bytes());
        v.extend(body);
        v
    }

    #[test]
    fn lookups_stop_when_the_work_outgrows_the_table() {
        let bytes = many_empty_types(1000);
        let table = ResourceTable::parse(&bytes).unwrap();
        // Each miss walks 1000 chunks; the budget is about a thousand of those walks.
        let budget = bytes.len() + WORK_FLOOR;
        let mut misses = 0;
        while let Ok(None) = table.resolve(0x7f04_0000 + misses) {
            misses += 1;
            assert!((misses as usize) < budget / 1000 + 2, "{misses} lookups");
        }
        assert!((misses as usize) >= budget / 1001 - 1, "{misses} lookups");
        assert!(table.resolve(0x7f04_0000).is_err());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(ResourceTable::parse(b"\x02\x00\x0c\x00\xff\xff\xff\xff").is_err());
        assert!(ResourceTable::parse(&[]).is_err());
    }
}
