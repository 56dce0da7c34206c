//! A bundle's resource table, `base/resources.pb`: aapt2's `aapt.pb.ResourceTable` (from its
//! `Resources.proto` and `Configuration.proto`; field numbers below are those files'). Just enough
//! of it to turn a manifest reference like `@string/app_name` (0x7f0b0000) into its value for the
//! default configuration, the way `aapt dump badging` prints `application-label:` for an APK:
//! `arsc.rs` does the same for an APK's `resources.arsc`, and both rank configurations with its
//! [`ConfigRank`], so an APK and the bundle it was built from give the same label. A value that
//! exists only for other configurations (a translation, `values-fr`) is not taken: aapt prints
//! no `application-label:` line then, only `application-label-fr:`.
//!
//! The table is a tree: `ResourceTable` → `Package` (`package_id`) → `Type` (`type_id`) → `Entry`
//! (`entry_id`) → `ConfigValue` (`Configuration`, `Value`) → `Item`. Nothing is decoded up front
//! beyond the top level's wire format: a lookup walks the messages in place, skipping the
//! sub-messages it does not need (a skip is one step whatever their size), and decodes only the
//! `Item` it returns, with the XML decoder's `item` (the same message). So memory is the input's
//! and constant per lookup, and a damaged corner of a large table matters only to a lookup that
//! reaches it. Time is bounded as in `arsc.rs`: the lookups in one table share a budget of one step
//! per byte of the table plus 2^20, one step per field read, after which they are errors; a
//! manifest of ten thousand references into a type of a million entries would otherwise take
//! hours. Pure and total: never a panic.

use std::cell::Cell;

use super::arsc::ConfigRank;
use super::proto_xml::{Item, ProtoError, Reader, ReferenceKind, Wire, item};

/// References that point at references: as `arsc.rs`, a handful are followed; a cycle must not spin.
const MAX_HOPS: usize = 8;
/// Steps all lookups in one table may take on top of one per byte of it (see the module's doc).
const WORK_FLOOR: usize = 1 << 20;

type Result<T> = std::result::Result<T, ProtoError>;

pub struct ResourceTable<'a> {
    data: &'a [u8],
    /// Steps left for lookups; once spent, every lookup is an error.
    work: Cell<usize>,
}

/// What resolving a resource id found, after following references.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup<'a> {
    /// The value for the default configuration: a string or a primitive, say, or a reference the
    /// table cannot follow (to a theme attribute, or by name only).
    Item(Item<'a>),
    /// The table has no entry with this id (the one asked for, or one a reference led to).
    NoEntry(u32),
    /// The entry has values, none of them for a configuration the default device matches.
    NoDefault(u32),
    /// The entry's default value is not an item: a style, array or plural, or nothing.
    NotAnItem(u32),
    /// References lead on past [`MAX_HOPS`] (a cycle, say) from this id.
    TooManyHops(u32),
}

/// The best value found so far for an entry: its configuration's rank and its `Value` message.
type Best<'a> = Option<(ConfigRank, Option<Reader<'a>>)>;

impl<'a> ResourceTable<'a> {
    /// Checks the top level's wire format: the bytes are protobuf, not some other file.
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(data);
        while r.field()?.is_some() {}
        Ok(ResourceTable {
            data,
            work: Cell::new(data.len().saturating_add(WORK_FLOOR)),
        })
    }

    /// The value of resource `id` for a default device (no locale), following references.
    pub fn resolve(&self, id: u32) -> Result<Lookup<'a>> {
        let mut id = id;
        for _ in 0..MAX_HOPS {
            match self.lookup(id)? {
                Lookup::Item(Item::Reference(r))
                    if r.kind == ReferenceKind::Resource && r.id != 0 =>
                {
                    id = r.id
                }
                found => return Ok(found),
            }
        }
        Ok(Lookup::TooManyHops(id))
    }

    /// The next field of `r`, at the cost of one step.
    fn next(&self, r: &mut Reader<'a>) -> Result<Option<(u32, Wire<'a>)>> {
        let left = self
            .work
            .get()
            .checked_sub(1)
            .ok_or(ProtoError::WorkSpent)?;
        self.work.set(left);
        Ok(r.field()?.map(|(number, _, wire)| (number, wire)))
    }

    /// The sub-messages numbered `number` of message `r`.
    fn each(
        &self,
        mut r: Reader<'a>,
        number: u32,
        mut f: impl FnMut(Reader<'a>) -> Result<()>,
    ) -> Result<()> {
        while let Some((n, wire)) = self.next(&mut r)? {
            if let (true, Wire::Bytes(m)) = (n == number, wire) {
                f(m)?;
            }
        }
        Ok(())
    }

    /// The id of a `Package`, `Type` or `Entry`: field 1 is a `PackageId`, `TypeId` or `EntryId`
    /// message whose field 1 is the number; `None` when unset (aapt2 assigned none). Repeated, a
    /// message field merges, so the last id read wins.
    fn id_of(&self, r: Reader<'a>) -> Result<Option<u32>> {
        let mut id = None;
        self.each(r, 1, |m| {
            let mut n = id.unwrap_or(0);
            let mut m = m;
            while let Some((number, wire)) = self.next(&mut m)? {
                if let (1, Wire::Varint(v)) = (number, wire) {
                    n = v as u32;
                }
            }
            id = Some(n);
            Ok(())
        })?;
        Ok(id)
    }

    /// The default-configuration value of `id` itself, not following references.
    fn lookup(&self, id: u32) -> Result<Lookup<'a>> {
        let (package, kind, entry) = (id >> 24, (id >> 16) & 0xff, id & 0xffff);
        let mut found = false;
        let mut best: Best<'a> = None;
        self.each(Reader::new(self.data), 2, |p| {
            if self.id_of(p)? != Some(package) {
                return Ok(());
            }
            self.each(p, 3, |t| {
                if self.id_of(t)? != Some(kind) {
                    return Ok(());
                }
                self.each(t, 3, |e| {
                    if self.id_of(e)? != Some(entry) {
                        return Ok(());
                    }
                    found = true;
                    self.each(e, 6, |cv| self.rank_value(cv, &mut best))
                })
            })
        })?;
        Ok(match (found, best) {
            (false, _) => Lookup::NoEntry(id),
            (true, None) => Lookup::NoDefault(id),
            (true, Some((_, value))) => match value.map(|v| self.item_of(v)).transpose()? {
                Some(Some(i)) => Lookup::Item(i),
                _ => Lookup::NotAnItem(id),
            },
        })
    }

    /// Keeps `ConfigValue` `cv` in `best` if its configuration fits the default device better;
    /// of equally good ones the first stays, as in `arsc.rs`.
    fn rank_value(&self, mut cv: Reader<'a>, best: &mut Best<'a>) -> Result<()> {
        let mut config = None;
        let mut value = None;
        while let Some((number, wire)) = self.next(&mut cv)? {
            match (number, wire) {
                (1, Wire::Bytes(m)) => config = Some(m),
                (2, Wire::Bytes(m)) => value = Some(m),
                _ => {}
            }
        }
        // An absent configuration is the default one, as proto3 has it.
        let rank = match config {
            Some(c) => self.rank(c)?,
            None => ConfigRank::default().on_default_device(),
        };
        if let Some(rank) = rank
            && best.as_ref().is_none_or(|(r, _)| *r < rank)
        {
            *best = Some((rank, value));
        }
        Ok(())
    }

    /// How a `Configuration` suits the default device, as [`ConfigRank`] ranks a
    /// `ResTable_config`: a locale, mcc/mnc, night mode, a keyboard, a round screen… (any
    /// qualifier but width, height, smallest width, screen size, orientation, density, sdk and
    /// the default product) rules it out; so does a field this decoder does not know.
    fn rank(&self, mut c: Reader<'a>) -> Result<Option<ConfigRank>> {
        let mut rank = ConfigRank::default();
        while let Some((number, wire)) = self.next(&mut c)? {
            let ok = match (number, wire) {
                // An empty locale or product is an unset one; "default" is aapt2's own product.
                (3, Wire::Bytes(s)) => s.bytes().is_empty(),
                (25, Wire::Bytes(s)) => matches!(s.bytes(), b"" | b"default"),
                (7, Wire::Varint(v)) => set(&mut rank.width, v, 320),
                (8, Wire::Varint(v)) => set(&mut rank.height, v, 480),
                (9, Wire::Varint(v)) => set(&mut rank.smallest_width, v, 320),
                (10, Wire::Varint(v)) => set(&mut rank.layout_size, v, 2),
                (15, Wire::Varint(v)) => set(&mut rank.orientation, v, 1),
                (18, Wire::Varint(v)) => {
                    rank.density_exact = v == 160;
                    true
                }
                (24, Wire::Varint(v)) => {
                    rank.sdk = u16::try_from(v).unwrap_or(u16::MAX);
                    true
                }
                // Written although unset (proto3 omits zeros, but a writer need not).
                (_, Wire::Varint(0)) => true,
                _ => false,
            };
            if !ok {
                return Ok(None);
            }
        }
        Ok(rank.on_default_device())
    }

    /// The `Item` of a `Value` message (field 4), or `None` for a compound value (5) or none.
    fn item_of(&self, mut v: Reader<'a>) -> Result<Option<Item<'a>>> {
        let mut out = None;
        while let Some((number, wire)) = self.next(&mut v)? {
            match (number, wire) {
                (4, Wire::Bytes(m)) => out = item(m)?,
                (5, Wire::Bytes(_)) => out = None,
                _ => {}
            }
        }
        Ok(out)
    }
}

/// Sets a qualifier `slot` to `v`, or says the default device does not have it (over `max`).
fn set<T: TryFrom<u64>>(slot: &mut T, v: u64, max: u64) -> bool {
    match T::try_from(v) {
        Ok(x) if v <= max => {
            *slot = x;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::proto_xml::tests::{bytes, uint};

    fn id(value: u32) -> Vec<u8> {
        bytes(1, &uint(1, u64::from(value)))
    }

    /// A `ConfigValue` of a `String` for a configuration given as `Configuration` fields.
    pub(crate) fn string_value(config: &[u8], text: &str) -> Vec<u8> {
        let value = bytes(4, &bytes(2, &bytes(1, text.as_bytes())));
        bytes(6, &[bytes(1, config), bytes(2, &value)].concat())
    }

    /// A `ConfigValue` of a reference to `to`, default configuration.
    fn reference_value(to: u32) -> Vec<u8> {
        let value = bytes(4, &bytes(1, &uint(2, u64::from(to))));
        bytes(6, &[bytes(1, &[]), bytes(2, &value)].concat())
    }

    pub(crate) fn entry(entry_id: u32, name: &str, values: &[Vec<u8>]) -> Vec<u8> {
        let mut e = id(entry_id);
        e.extend(bytes(2, name.as_bytes()));
        e.extend(values.concat());
        bytes(3, &e)
    }

    /// A table of one package 0x7f holding one type `type_id` named "string" with `entries`.
    pub(crate) fn table(type_id: u32, entries: &[Vec<u8>]) -> Vec<u8> {
        let mut t = id(type_id);
        t.extend(bytes(2, b"string"));
        t.extend(entries.concat());
        let mut p = id(0x7f);
        p.extend(bytes(2, b"com.example"));
        p.extend(bytes(3, &t));
        bytes(2, &p)
    }

    fn locale(tag: &str) -> Vec<u8> {
        bytes(3, tag.as_bytes())
    }

    fn resolve(table_bytes: &[u8], id: u32) -> Lookup<'_> {
        ResourceTable::parse(table_bytes)
            .unwrap()
            .resolve(id)
            .unwrap()
    }

    #[test]
    fn the_default_configuration_wins_over_a_translation_in_either_order() {
        for values in [
            vec![
                string_value(&[], "Shop"),
                string_value(&locale("fr"), "Boutique"),
            ],
            vec![
                string_value(&locale("fr"), "Boutique"),
                string_value(&[], "Shop"),
            ],
        ] {
            let t = table(0x0b, &[entry(0, "app_name", &values)]);
            assert_eq!(resolve(&t, 0x7f0b_0000), Lookup::Item(Item::Str("Shop")));
        }
    }

    #[test]
    fn a_translation_alone_is_no_default_value() {
        let t = table(
            0x0b,
            &[entry(
                0,
                "app_name",
                &[string_value(&locale("fr"), "Boutique")],
            )],
        );
        assert_eq!(resolve(&t, 0x7f0b_0000), Lookup::NoDefault(0x7f0b_0000));
    }

    #[test]
    fn a_more_specific_matching_configuration_wins() {
        // v21 and a 160dpi density both fit the default device and rank above the plain value;
        // landscape and 600dp do not fit it at all.
        let values = [
            string_value(&uint(15, 2), "land"),
            string_value(&[], "plain"),
            string_value(&uint(9, 600), "sw600dp"),
            string_value(&uint(24, 21), "v21"),
        ];
        let t = table(0x0b, &[entry(0, "app_name", &values)]);
        assert_eq!(resolve(&t, 0x7f0b_0000), Lookup::Item(Item::Str("v21")));
        // Unset qualifiers written as zeros are still unset; an unknown one rules a value out.
        let values = [
            string_value(&[uint(1, 0), uint(17, 0)].concat(), "zeros"),
            string_value(&uint(99, 1), "future qualifier"),
        ];
        let t = table(0x0b, &[entry(0, "app_name", &values)]);
        assert_eq!(resolve(&t, 0x7f0b_0000), Lookup::Item(Item::Str("zeros")));
    }

    #[test]
    fn references_are_followed_a_bounded_number_of_times() {
        let t = table(
            0x0b,
            &[
                entry(0, "app_name", &[reference_value(0x7f0b_0001)]),
                entry(1, "real_name", &[string_value(&[], "Shop")]),
                entry(2, "loop_a", &[reference_value(0x7f0b_0003)]),
                entry(3, "loop_b", &[reference_value(0x7f0b_0002)]),
                entry(4, "dangling", &[reference_value(0x7f0b_0009)]),
            ],
        );
        assert_eq!(resolve(&t, 0x7f0b_0000), Lookup::Item(Item::Str("Shop")));
        assert!(matches!(resolve(&t, 0x7f0b_0002), Lookup::TooManyHops(_)));
        assert_eq!(resolve(&t, 0x7f0b_0004), Lookup::NoEntry(0x7f0b_0009));
    }

    #[test]
    fn ids_must_match_at_every_level() {
        let t = table(0x0b, &[entry(1, "other", &[string_value(&[], "x")])]);
        for missing in [0x7f0b_0000, 0x7f0c_0001, 0x010b_0001] {
            assert_eq!(resolve(&t, missing), Lookup::NoEntry(missing));
        }
        assert_eq!(resolve(&t, 0x7f0b_0001), Lookup::Item(Item::Str("x")));
        // An entry without an `entry_id` has no id at all, not id 0.
        let mut e = bytes(2, b"unassigned");
        e.extend(string_value(&[], "y"));
        let t = table(0x0b, &[bytes(3, &e)]);
        assert_eq!(resolve(&t, 0x7f0b_0000), Lookup::NoEntry(0x7f0b_0000));
    }

    #[test]
    fn a_compound_value_is_not_an_item() {
        let style = bytes(
            6,
            &[bytes(1, &[]), bytes(2, &bytes(5, &bytes(2, &[])))].concat(),
        );
        let t = table(0x0b, &[entry(0, "style", &[style])]);
        assert_eq!(resolve(&t, 0x7f0b_0000), Lookup::NotAnItem(0x7f0b_0000));
    }

    #[test]
    fn lookups_stop_when_the_work_outgrows_the_table() {
        // Many entries in the type asked about: each miss walks all of them, a step per field.
        let entries: Vec<Vec<u8>> = (1..2000).map(|i| entry(i, "", &[])).collect();
        let bytes = table(0x0b, &entries);
        let t = ResourceTable::parse(&bytes).unwrap();
        let mut misses = 0usize;
        while let Ok(Lookup::NoEntry(_)) = t.resolve(0x7f0b_0000) {
            misses += 1;
            assert!(misses < (bytes.len() + WORK_FLOOR) / 2000 + 2, "{misses}");
        }
        // A miss reads each entry's few fields (its id message, the id in it, its name).
        assert!(
            misses > (bytes.len() + WORK_FLOOR) / (2000 * 10),
            "{misses}"
        );
        assert_eq!(t.resolve(0x7f0b_0000), Err(ProtoError::WorkSpent));
    }

    #[test]
    fn garbage_is_an_error_and_damage_is_found_by_the_lookup_that_reaches_it() {
        assert!(ResourceTable::parse(b"\x0a\x10short").is_err());
        assert!(ResourceTable::parse(&[]).is_ok());
        // A damaged value elsewhere in the table does not stop a lookup of a sound one.
        let bad = bytes(6, &bytes(2, &bytes(4, &bytes(2, &bytes(1, &[0xff])))));
        let t = table(
            0x0b,
            &[
                entry(0, "app_name", &[string_value(&[], "Shop")]),
                entry(1, "bad", &[bad]),
            ],
        );
        assert_eq!(resolve(&t, 0x7f0b_0000), Lookup::Item(Item::Str("Shop")));
        let table = ResourceTable::parse(&t).unwrap();
        assert!(matches!(
            table.resolve(0x7f0b_0001),
            Err(ProtoError::NotUtf8 { .. })
        ));
    }

    #[test]
    fn every_cut_and_flip_is_a_value_or_an_error() {
        let full = table(
            0x0b,
            &[
                entry(0, "app_name", &[reference_value(0x7f0b_0001)]),
                entry(
                    1,
                    "real_name",
                    &[
                        string_value(&[], "Shop"),
                        string_value(&locale("fr"), "Boutique"),
                    ],
                ),
            ],
        );
        let probe = |b: &[u8]| {
            if let Ok(t) = ResourceTable::parse(b) {
                for id in [0x7f0b_0000, 0x7f0b_0001, 0] {
                    let _ = t.resolve(id);
                }
            }
        };
        for n in 0..full.len() {
            probe(&full[..n]);
            for bit in 0..8 {
                let mut v = full.clone();
                v[n] ^= 1 << bit;
                probe(&v);
            }
        }
    }
}
