//! The upload cache: which Doksi target an APK's bytes were already registered as, so an unchanged
//! APK is never uploaded twice. It owns the files under one cache folder (their layout, locking and
//! atomic replacement) and nothing more: it knows nothing of HTTP, the API's types or APK parsing.
//! Callers hand it hashes and target ids and decide what a hit means.
//!
//! ```text
//! <dir>/                              $XDG_CACHE_HOME/doksi, else ~/.cache/doksi
//! ├── CACHEDIR.TAG                    backup tools skip the folder (https://bford.info/cachedir/)
//! └── targets-v1/                     a new format gets a new folder; older doksis keep theirs
//!     ├── <scope>.json                {"version":1,"host":"api.doksi.ai","key_hint":"3f9a",
//!     │                                "entries":{"<sha256>": Entry, …}}
//!     ├── <scope>.json.lock           held while <scope>.json is rewritten
//!     ├── <scope>.json.corrupt-<secs> an unreadable <scope>.json, set aside at that unix time
//!     └── locks/
//!         └── <scope>-<sha256>.lock   held while one APK is uploaded; holds the holder's pid;
//!                                     removed by its holder on release (unix)
//! ```
//!
//! `host` (the base URL's host[:port]) and `key_hint` (the API key's last four characters, as
//! `doksi config` and `-vv` show them, never more) are there for `doksi cache list` to say whose entries these are;
//! files written before they existed lack them and still load. A reader ignores fields it does not
//! know, which is how doksis older than these two fields read the file; one of those that rewrites
//! it leaves them out, and the next write by a newer doksi puts them back.
//!
//! A target id only means something to the server and account that issued it, so entries live in
//! a [`scope`] derived from both, and two scopes never share entries. Readers take no lock: every
//! write goes to a temporary file in the same folder that is then renamed over the old one, so a
//! reader sees the old file or the new one, never half of either. That rename is also why writers
//! lock a separate `.lock` file: a lock on the data file would stay behind on the replaced inode.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const TARGETS: &str = "targets-v1";
const FORMAT_VERSION: u32 = 1;
const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
                            # This file is a cache directory tag created by doksi.\n";
const SCOPE_HEX: usize = 16;
const SHA256_HEX: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot create cache folder {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot read cache file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write cache file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot lock cache file {path}: {source}")]
    Lock { path: PathBuf, source: io::Error },
    #[error("cannot remove cache file {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
    // Scopes and hashes become file names, so anything else could point outside the cache.
    #[error("{what} {value:?} cannot be a cache key: expected {len} lowercase hex digits")]
    BadKey {
        what: &'static str,
        value: String,
        len: usize,
    },
}

/// One APK already registered with Doksi. Beyond the target id, the fields are there so that
/// `doksi cache list` can say which build an entry came from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Entry {
    /// Lowercase hex, as [`crate::package::Fingerprint`] gives it; also the entry's key.
    pub sha256: String,
    pub target_id: String,
    pub package: Option<String>,
    pub version_name: Option<String>,
    pub version_code: Option<i64>,
    pub size: u64,
    /// RFC 3339 UTC (see [`rfc3339`]), so the file reads the same on every machine.
    pub uploaded_at: String,
}

type Entries = BTreeMap<String, Entry>;

#[derive(Serialize, Deserialize)]
struct ScopeFile {
    version: u32,
    // Optional: files written before they existed have neither (see the module's doc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_hint: Option<String>,
    entries: Entries,
}

/// Whose entries a scope holds, in words a person reads: the server's host[:port] and the API
/// key's last four characters. Recorded in the scope's file; the [`scope`] hash stays its name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub host: String,
    pub key_hint: String,
}

impl Account {
    /// Four characters of a key are a hint, as `doksi config` shows them; more would start to be
    /// the key.
    pub const KEY_HINT_LEN: usize = 4;

    /// What a scope file records, if it is what doksi writes: a hand-edited or garbled value
    /// shows the scope hash instead of text that could be anything, on a terminal.
    fn from_file(host: Option<String>, key_hint: Option<String>) -> Option<Account> {
        let (host, key_hint) = (host?, key_hint?);
        let host_ok = !host.is_empty()
            && host.len() <= 300
            && host
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'@');
        let hint_ok = key_hint.len() == Account::KEY_HINT_LEN
            && key_hint.bytes().all(|b| b.is_ascii_alphanumeric());
        (host_ok && hint_ok).then_some(Account { host, key_hint })
    }
}

impl std::fmt::Display for Account {
    /// `api.doksi.ai key …3f9a`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} key …{}", self.host, self.key_hint)
    }
}

/// A server and account in the cache: the [`scope`] hash its files are named after, and the
/// [`Account`] written into them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub id: String,
    pub account: Account,
}

impl Scope {
    /// `key_hint` is cut to its last [`Account::KEY_HINT_LEN`] characters, whatever it was given.
    pub fn new(base_url: &str, host: &str, key_fingerprint: &str, key_hint: &str) -> Scope {
        let skip = key_hint
            .chars()
            .count()
            .saturating_sub(Account::KEY_HINT_LEN);
        Scope {
            id: scope(base_url, key_fingerprint),
            account: Account {
                host: host.to_owned(),
                key_hint: key_hint.chars().skip(skip).collect(),
            },
        }
    }
}

/// One entry as [`Cache::list`] gives it: with its scope, and the scope's account where its file
/// records one.
#[derive(Clone, Debug, PartialEq)]
pub struct Listed {
    pub scope: String,
    pub account: Option<Account>,
    pub entry: Entry,
}

/// The folder entries go to when the user names none: the XDG base-directory rule, written out
/// here because it is the only thing the `dirs` crate would be used for.
pub fn default_dir() -> Option<PathBuf> {
    use crate::environment::var_os;
    dir_from(var_os("XDG_CACHE_HOME"), var_os("HOME"))
}

fn dir_from(xdg_cache_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    // The XDG spec says a relative (or empty) value is invalid and must be ignored.
    let absolute = |v: Option<OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    absolute(xdg_cache_home)
        .map(|d| d.join("doksi"))
        .or_else(|| absolute(home).map(|h| h.join(".cache").join("doksi")))
}

/// Where entries of one server and account live. Takes the key's fingerprint
/// (`ApiKey::fingerprint`) rather than the key, so the key never reaches this module; it is hashed
/// again with the URL, so the file name reveals neither.
pub fn scope(base_url: &str, key_fingerprint: &str) -> String {
    let digest =
        Sha256::digest(format!("doksi-cache-v1\0{base_url}\0{key_fingerprint}").as_bytes());
    crate::package::hex(&digest[..SCOPE_HEX / 2])
}

/// Proof that this process is the only one uploading a given APK to a given scope. Whoever takes
/// it second waits, then finds the entry the first one put. Released on drop; taking it twice in
/// one process without dropping the first waits for itself until [`LockWait::limit`].
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct HashLock {
    file: File,
    /// Read only on unix, where the file is removed on release.
    #[cfg_attr(not(unix), allow(dead_code))]
    path: PathBuf,
}

impl Drop for HashLock {
    /// The pid goes before the lock does, so a later waiter never names a process long gone. On
    /// unix the file goes too, and while still locked: one file per APK ever uploaded would pile
    /// up otherwise. A waiter that opened it meanwhile gets its lock only once it is unlinked, and
    /// then opens the live path again (see [`Cache::try_lock_hash`]); were the file unlinked after
    /// the unlock, that waiter could take it still linked and a newcomer then create a second one
    /// under the same name, and two processes would each hold "the" lock.
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        // Only our own file: nobody else unlinks a locked file, so if the path still names it,
        // it still does when removed. (Someone's `rm` may have put another file there.)
        #[cfg(unix)]
        if still_linked(&self.file, &self.path).unwrap_or(false) {
            let _ = fs::remove_file(&self.path);
        }
        #[cfg(test)]
        tests::before_unlock(&self.path);
        // The lock goes with the descriptor, when `file` is dropped after this.
    }
}

/// How long the uploader waits for another holder of a hash lock, and how often it looks. The wait has a
/// bound because the holder may be stalled (a stopped CI job, a hung network): a second upload
/// only costs bandwidth, an endless silent wait costs the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockWait {
    pub limit: Duration,
    pub poll: Duration,
}

impl Default for LockWait {
    fn default() -> LockWait {
        LockWait {
            limit: Duration::from_secs(5 * 60),
            poll: Duration::from_millis(200),
        }
    }
}

/// Another process's hash lock, as far as its file tells: the holder writes its pid there, so
/// whoever waits can say whom for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<u32>,
    pub lock_file: PathBuf,
}

/// What [`Cache::try_lock_hash`] came back with.
#[derive(Debug)]
pub enum Attempt {
    Acquired(HashLock),
    Held(Holder),
}

/// The cache folder, opened. Problems that do not stop a command (a corrupt file set aside) are
/// collected rather than printed, because this module does not decide where output goes.
#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    warnings: Mutex<Vec<String>>,
    /// Set once leftover hash locks were trimmed (see [`Cache::try_lock_hash`]).
    #[cfg_attr(not(unix), allow(dead_code))]
    stale_locks_trimmed: std::sync::Once,
}

/// A hash lock file nobody holds and nobody touched for this long was left by a process that was
/// killed (or by a doksi older than removing them on release). Younger ones are left to the next
/// call: trimming costs a stat per file, and an upload should not pay more.
pub const STALE_LOCK_AGE: Duration = Duration::from_secs(60 * 60);

impl Cache {
    pub fn open(dir: PathBuf) -> Result<Cache, CacheError> {
        create_dirs(&dir.join(TARGETS))?;
        let tag = dir.join("CACHEDIR.TAG");
        match tag.try_exists() {
            Ok(true) => {}
            Ok(false) => write_atomically(&tag, CACHEDIR_TAG.as_bytes())?,
            Err(source) => return Err(CacheError::Read { path: tag, source }),
        }
        Ok(Cache {
            dir,
            warnings: Mutex::default(),
            stale_locks_trimmed: std::sync::Once::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Warnings gathered since the last call, each naming the file it is about.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.lock_warnings())
    }

    pub fn get(&self, scope: &str, sha256: &str) -> Result<Option<Entry>, CacheError> {
        check_key("scope", scope, SCOPE_HEX)?;
        check_key("sha256", sha256, SHA256_HEX)?;
        let path = self.data_path(scope);
        match load(&path)? {
            Load::Scope { mut entries, .. } => Ok(entries.remove(sha256)),
            Load::Corrupt(why) => {
                self.warn_corrupt(&path, &why);
                Ok(None)
            }
        }
    }

    /// Stores the entry, and records the scope's account in its file.
    pub fn put(&self, scope: &Scope, entry: Entry) -> Result<(), CacheError> {
        check_key("scope", &scope.id, SCOPE_HEX)?;
        check_key("sha256", &entry.sha256, SHA256_HEX)?;
        self.update(&scope.id, Some(&scope.account), |entries| {
            entries.insert(entry.sha256.clone(), entry);
            Change::Write
        })
    }

    /// Whether there was an entry to remove.
    pub fn remove(&self, scope: &str, sha256: &str) -> Result<bool, CacheError> {
        check_key("scope", scope, SCOPE_HEX)?;
        check_key("sha256", sha256, SHA256_HEX)?;
        let mut removed = false;
        self.update(scope, None, |entries| {
            removed = entries.remove(sha256).is_some();
            if removed { Change::Write } else { Change::Keep }
        })?;
        Ok(removed)
    }

    /// Every entry of every scope, ordered by scope, then hash.
    pub fn list(&self) -> Result<Vec<Listed>, CacheError> {
        let mut listed = Vec::new();
        for file in self.files()? {
            if file.kind != Kind::Data {
                continue;
            }
            match load(&file.path)? {
                Load::Scope { entries, account } => {
                    listed.extend(entries.into_values().map(|entry| Listed {
                        scope: file.scope.clone(),
                        account: account.clone(),
                        entry,
                    }))
                }
                Load::Corrupt(why) => self.warn_corrupt(&file.path, &why),
            }
        }
        Ok(listed)
    }

    /// Removes every entry (and every file left by a crash or a corrupt write); returns how many
    /// entries there were. Each scope is emptied under its lock, so a concurrent `put` lands
    /// wholly before or wholly after.
    pub fn clear(&self) -> Result<usize, CacheError> {
        let mut by_scope: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        for file in self.files()? {
            by_scope.entry(file.scope).or_default().push(file.path);
        }
        let mut removed = 0;
        for (scope, paths) in by_scope {
            let _lock = lock(&self.scope_lock_path(&scope))?;
            if let Load::Scope { entries, .. } = load(&self.data_path(&scope))? {
                removed += entries.len();
            }
            for path in paths {
                remove_if_present(&path)?;
            }
        }
        #[cfg(unix)]
        self.trim_hash_locks(Duration::ZERO)?;
        Ok(removed)
    }

    /// Tries once to take the lock for this APK in this scope: taken, or who holds it. Waiting
    /// is the caller's (the uploader waits asynchronously, so a signal is heard meanwhile).
    ///
    /// The first call on a handle (an upload is about to write) also removes, on unix, the hash
    /// lock files of any scope that nobody holds and that are older than [`STALE_LOCK_AGE`]:
    /// those of killed holders. Once per handle, so a batch of uploads pays for it once; a
    /// failure there costs nothing but the files, so it is not reported.
    pub fn try_lock_hash(&self, scope: &str, sha256: &str) -> Result<Attempt, CacheError> {
        check_key("scope", scope, SCOPE_HEX)?;
        check_key("sha256", sha256, SHA256_HEX)?;
        let path = self.locks_dir().join(format!("{scope}-{sha256}.lock"));
        create_dirs(&self.locks_dir())?;
        #[cfg(unix)]
        self.stale_locks_trimmed.call_once(|| {
            let _ = self.trim_hash_locks(STALE_LOCK_AGE);
        });
        let err = |source| CacheError::Lock {
            path: path.clone(),
            source,
        };
        loop {
            // Opened afresh on every attempt: the file may have been trimmed (see [`lock`]).
            let mut file = open_lock_file(&path).map_err(err)?;
            #[cfg(test)]
            tests::between_open_and_lock();
            match file.try_lock() {
                Ok(()) if still_linked(&file, &path).map_err(err)? => {
                    // Only for the message of whoever waits next, so a failure (a full disk)
                    // costs nothing but the pid in that message.
                    let _ = file
                        .set_len(0)
                        .and_then(|()| writeln!(file, "{}", std::process::id()));
                    return Ok(Attempt::Acquired(HashLock {
                        file,
                        path: path.clone(),
                    }));
                }
                // Trimmed between open and lock: open the new file.
                Ok(()) => continue,
                Err(TryLockError::WouldBlock) => {
                    return Ok(Attempt::Held(Holder {
                        pid: holder_pid(&path),
                        lock_file: path.clone(),
                    }));
                }
                Err(TryLockError::Error(source)) => return Err(err(source)),
            }
        }
    }

    fn targets_dir(&self) -> PathBuf {
        self.dir.join(TARGETS)
    }

    fn locks_dir(&self) -> PathBuf {
        self.targets_dir().join("locks")
    }

    fn data_path(&self, scope: &str) -> PathBuf {
        self.targets_dir().join(format!("{scope}.json"))
    }

    fn scope_lock_path(&self, scope: &str) -> PathBuf {
        self.targets_dir().join(format!("{scope}.json.lock"))
    }

    /// Read, change, write back, all under the scope's lock: without the re-read under the lock,
    /// two uploads finishing together would each write back a file lacking the other's entry.
    /// The file keeps the account it records unless `account` gives one.
    fn update(
        &self,
        scope: &str,
        account: Option<&Account>,
        change: impl FnOnce(&mut Entries) -> Change,
    ) -> Result<(), CacheError> {
        let _lock = lock(&self.scope_lock_path(scope))?;
        let path = self.data_path(scope);
        let (mut entries, recorded) = match load(&path)? {
            Load::Scope { entries, account } => (entries, account),
            Load::Corrupt(why) => {
                self.set_aside(&path, &why)?;
                (Entries::new(), None)
            }
        };
        if change(&mut entries) == Change::Keep {
            return Ok(());
        }
        let account = account.cloned().or(recorded);
        let file = ScopeFile {
            version: FORMAT_VERSION,
            host: account.as_ref().map(|a| a.host.clone()),
            key_hint: account.map(|a| a.key_hint),
            entries,
        };
        let mut json = serde_json::to_vec_pretty(&file).map_err(|e| CacheError::Write {
            path: path.clone(),
            source: e.into(),
        })?;
        json.push(b'\n');
        write_atomically(&path, &json)
    }

    /// Keeps the unreadable file for a bug report instead of deleting what might be a user's edit.
    fn set_aside(&self, path: &Path, why: &str) -> Result<(), CacheError> {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut aside = path.as_os_str().to_owned();
        aside.push(format!(".corrupt-{secs}"));
        let aside = PathBuf::from(aside);
        fs::rename(path, &aside).map_err(|source| CacheError::Write {
            path: aside.clone(),
            source,
        })?;
        // The read that met the file said it was ignored; this says more, so it says it alone
        // (one corrupt file, one warning).
        let ignoring = format!("ignoring corrupt cache file {} (", path.display());
        self.lock_warnings().retain(|w| !w.starts_with(&ignoring));
        self.warn(format!(
            "cache file {} was corrupt ({why}); moved it to {} and started afresh",
            path.display(),
            aside.display()
        ));
        Ok(())
    }

    fn warn_corrupt(&self, path: &Path, why: &str) {
        self.warn(format!(
            "ignoring corrupt cache file {} ({why})",
            path.display()
        ));
    }

    /// Repeated reads of one corrupt file would otherwise say the same thing many times.
    fn warn(&self, warning: String) {
        let mut warnings = self.lock_warnings();
        if !warnings.contains(&warning) {
            warnings.push(warning);
        }
    }

    fn lock_warnings(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        // A panic elsewhere while pushing a string leaves the list intact; keep using it.
        self.warnings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The files of `targets-v1/` that hold or once held a scope's entries, sorted by name. The
    /// scope's `.lock` file is not among them: removing it while a writer waits on it would let
    /// a second writer lock a new file of the same name.
    fn files(&self) -> Result<Vec<ScopedFile>, CacheError> {
        let folder = self.targets_dir();
        let mut files = Vec::new();
        for name in read_names(&folder)? {
            let Some(name) = name.to_str() else { continue };
            if let Some((scope, kind)) = classify(name) {
                files.push(ScopedFile {
                    scope: scope.to_owned(),
                    kind,
                    path: folder.join(name),
                });
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// Hash lock files their holders did not remove (killed, or a doksi from before they did)
    /// would pile up without end. Only a lock nobody holds is removed, and it is removed while
    /// held, so a process that was waiting for it finds it unlinked and starts over (see [`lock`]).
    /// Only files last modified at least `min_age` ago are looked at. Off unix an open file cannot
    /// be removed, so there they stay.
    #[cfg(unix)]
    fn trim_hash_locks(&self, min_age: Duration) -> Result<(), CacheError> {
        let folder = self.locks_dir();
        let now = SystemTime::now();
        for name in read_names(&folder)? {
            let path = folder.join(name);
            if path.extension().is_none_or(|e| e != "lock") {
                continue;
            }
            if !min_age.is_zero() {
                let age = fs::symlink_metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|modified| now.duration_since(modified).ok());
                // Gone meanwhile, unreadable, or from the future: not ours to judge now.
                if age.is_none_or(|age| age < min_age) {
                    continue;
                }
            }
            let file = match OpenOptions::new().write(true).open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(CacheError::Lock { path, source }),
            };
            match file.try_lock() {
                Ok(()) => remove_if_present(&path)?,
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(source)) => return Err(CacheError::Lock { path, source }),
            }
        }
        Ok(())
    }
}

#[derive(PartialEq)]
enum Change {
    Write,
    Keep,
}

enum Load {
    Scope {
        entries: Entries,
        account: Option<Account>,
    },
    /// Why the file could not be used, for the warning.
    Corrupt(String),
}

#[derive(Debug, PartialEq)]
enum Kind {
    /// `<scope>.json`
    Data,
    /// A corrupt file set aside, or a temporary file a killed writer never renamed.
    Leftover,
}

struct ScopedFile {
    scope: String,
    kind: Kind,
    path: PathBuf,
}

fn classify(name: &str) -> Option<(&str, Kind)> {
    if let Some(temp) = name.strip_prefix('.') {
        let (scope, rest) = temp.split_once('.')?;
        return (is_lower_hex(scope, SCOPE_HEX) && rest.starts_with("json."))
            .then_some((scope, Kind::Leftover));
    }
    let (scope, rest) = name.split_once('.')?;
    if !is_lower_hex(scope, SCOPE_HEX) {
        return None;
    }
    match rest {
        "json" => Some((scope, Kind::Data)),
        _ if rest.starts_with("json.corrupt-") => Some((scope, Kind::Leftover)),
        _ => None,
    }
}

fn load(path: &Path) -> Result<Load, CacheError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Load::Scope {
                entries: Entries::new(),
                account: None,
            });
        }
        // A folder where the file belongs (a careless `mkdir -p`, a restore gone wrong) is set
        // aside like any unreadable file, instead of failing every command until removed by hand.
        Err(_) if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) => {
            return Ok(Load::Corrupt("it is a folder, not a file".into()));
        }
        Err(source) => {
            return Err(CacheError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let file: ScopeFile = match serde_json::from_slice(&bytes) {
        Ok(file) => file,
        Err(e) => return Ok(Load::Corrupt(e.to_string())),
    };
    if file.version != FORMAT_VERSION {
        return Ok(Load::Corrupt(format!(
            "format version {}, expected {FORMAT_VERSION}",
            file.version
        )));
    }
    if let Some(key) = file
        .entries
        .iter()
        .find(|(k, e)| **k != e.sha256)
        .map(|(k, _)| k)
    {
        return Ok(Load::Corrupt(format!(
            "the entry under {key} is for another hash"
        )));
    }
    Ok(Load::Scope {
        account: Account::from_file(file.host, file.key_hint),
        entries: file.entries,
    })
}

/// The temporary file is named after its target (`.<name>.<random>`), so [`Cache::clear`] can
/// tell a killed writer's leftover from another scope's write in progress.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    let err = |source| CacheError::Write {
        path: path.to_owned(),
        source,
    };
    crate::atomic::write(path, crate::atomic::Readers::Owner, bytes).map_err(err)
}

/// An exclusive lock on `path`, created if needed. [`Cache::trim_hash_locks`] may unlink a lock
/// file between our open and our lock; the lock we then got guards nothing, so start over.
fn lock(path: &Path) -> Result<File, CacheError> {
    if let Some(folder) = path.parent() {
        create_dirs(folder)?;
    }
    let err = |source| CacheError::Lock {
        path: path.to_owned(),
        source,
    };
    loop {
        let file = open_lock_file(path).map_err(err)?;
        file.lock().map_err(err)?;
        if still_linked(&file, path).map_err(err)? {
            return Ok(file);
        }
    }
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// The pid a hash lock's holder wrote into it; none if it has not yet, or the file is not ours.
fn holder_pid(path: &Path) -> Option<u32> {
    let mut text = String::new();
    // A pid is a few digits; a bigger file is not one doksi wrote.
    File::open(path)
        .ok()?
        .take(32)
        .read_to_string(&mut text)
        .ok()?;
    text.lines().next()?.trim().parse().ok()
}

#[cfg(unix)]
fn still_linked(file: &File, path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let held = file.metadata()?;
    match fs::metadata(path) {
        Ok(named) => Ok(named.dev() == held.dev() && named.ino() == held.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn still_linked(_: &File, _: &Path) -> io::Result<bool> {
    Ok(true)
}

/// Owner-only on unix: the entries tell which apps a user uploads to which account.
fn create_dirs(path: &Path) -> Result<(), CacheError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(path)
        .map_err(|source| CacheError::CreateDir {
            path: path.to_owned(),
            source,
        })
}

/// Names in `folder`; none if it does not exist yet.
fn read_names(folder: &Path) -> Result<Vec<OsString>, CacheError> {
    let err = |source| CacheError::Read {
        path: folder.to_owned(),
        source,
    };
    let listing = match fs::read_dir(folder) {
        Ok(listing) => listing,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(err(e)),
    };
    listing
        .map(|item| item.map(|item| item.file_name()).map_err(err))
        .collect()
}

/// Removes a file, or a folder that took a file's name (see [`load`]) with what it holds.
fn remove_if_present(path: &Path) -> Result<(), CacheError> {
    let removed = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        _ => fs::remove_file(path),
    };
    match removed {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(CacheError::Remove {
            path: path.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

fn check_key(what: &'static str, value: &str, len: usize) -> Result<(), CacheError> {
    if is_lower_hex(value, len) {
        return Ok(());
    }
    Err(CacheError::BadKey {
        what,
        value: value.to_owned(),
        len,
    })
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    thread_local! {
        /// Run once, on this thread, by the next [`Cache::try_lock_hash`] between opening the lock
        /// file and locking it: the window in which `cache clear` can trim the file it opened.
        static BETWEEN_OPEN_AND_LOCK: Cell<Option<Box<dyn FnOnce()>>> = const { Cell::new(None) };
    }

    pub(super) fn between_open_and_lock() {
        if let Some(hook) = BETWEEN_OPEN_AND_LOCK.take() {
            hook();
        }
    }

    thread_local! {
        /// Run once, on this thread, by the next [`HashLock`] dropped, with its path, just before
        /// its lock goes: what a waiter would find at that moment.
        static BEFORE_UNLOCK: Cell<Option<ReleaseHook>> = const { Cell::new(None) };
    }

    type ReleaseHook = Box<dyn FnOnce(&Path)>;

    pub(super) fn before_unlock(path: &Path) {
        if let Some(hook) = BEFORE_UNLOCK.take() {
            hook(path);
        }
    }

    fn sha(n: u32) -> String {
        format!("{n:064x}")
    }

    fn entry(sha256: &str, target_id: &str) -> Entry {
        Entry {
            sha256: sha256.to_owned(),
            target_id: target_id.to_owned(),
            package: Some("com.example.app".into()),
            version_name: Some("1.2.3".into()),
            version_code: Some(42),
            size: 1234,
            uploaded_at: crate::timestamp::rfc3339(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        }
    }

    /// The hash lock, waiting as long as a test could need.
    fn hold(cache: &Cache, scope: &str, sha256: &str) -> HashLock {
        for _ in 0..6000 {
            match cache.try_lock_hash(scope, sha256).unwrap() {
                Attempt::Acquired(lock) => return lock,
                Attempt::Held(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        panic!("still held after a minute");
    }

    fn scope_a() -> String {
        scope("https://api.doksi.ai", "0123456789abcdef")
    }

    /// The scope `id`, as [`Cache::put`] takes it, with the account it records.
    fn at(id: &str) -> Scope {
        Scope {
            id: id.to_owned(),
            account: Account {
                host: "api.doksi.ai".into(),
                key_hint: "3f9a".into(),
            },
        }
    }

    #[test]
    fn put_then_get_returns_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("doksi")).unwrap();
        let s = scope_a();
        assert_eq!(cache.get(&s, &sha(1)).unwrap(), None);
        cache.put(&at(&s), entry(&sha(1), "t-1")).unwrap();
        cache.put(&at(&s), entry(&sha(2), "t-2")).unwrap();

        // A fresh handle reads what the first wrote: the file, not memory, is the cache.
        let reopened = Cache::open(dir.path().join("doksi")).unwrap();
        assert_eq!(
            reopened.get(&s, &sha(1)).unwrap(),
            Some(entry(&sha(1), "t-1"))
        );
        assert_eq!(
            reopened.get(&s, &sha(2)).unwrap(),
            Some(entry(&sha(2), "t-2"))
        );
        assert!(reopened.take_warnings().is_empty());

        let text = fs::read_to_string(cache.data_path(&s)).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["entries"][sha(1)]["target_id"], "t-1");
        assert_eq!(
            json["entries"][sha(1)]["uploaded_at"],
            "2023-11-14T22:13:20Z"
        );
    }

    #[test]
    fn scopes_do_not_share_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().to_owned()).unwrap();
        let other_key = scope("https://api.doksi.ai", "fedcba9876543210");
        let other_url = scope("http://127.0.0.1:8080", "0123456789abcdef");
        assert_ne!(scope_a(), other_key);
        assert_ne!(scope_a(), other_url);

        cache.put(&at(&scope_a()), entry(&sha(7), "in-a")).unwrap();
        cache.put(&at(&other_key), entry(&sha(7), "in-b")).unwrap();
        assert_eq!(
            cache.get(&scope_a(), &sha(7)).unwrap().unwrap().target_id,
            "in-a"
        );
        assert_eq!(
            cache.get(&other_key, &sha(7)).unwrap().unwrap().target_id,
            "in-b"
        );
        assert_eq!(cache.get(&other_url, &sha(7)).unwrap(), None);

        assert!(cache.remove(&other_key, &sha(7)).unwrap());
        assert!(cache.get(&scope_a(), &sha(7)).unwrap().is_some());
    }

    #[test]
    fn scope_is_a_short_hash_that_hides_url_and_key() {
        let s = scope("https://api.doksi.ai", "0123456789abcdef");
        assert!(is_lower_hex(&s, SCOPE_HEX), "{s}");
        assert_eq!(s, scope("https://api.doksi.ai", "0123456789abcdef"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(scope("ab", "c"), scope("a", "bc"));
        assert!(!s.contains("0123456789abcdef"));
    }

    #[test]
    fn remove_says_whether_there_was_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().to_owned()).unwrap();
        assert!(!cache.remove(&scope_a(), &sha(1)).unwrap());
        cache.put(&at(&scope_a()), entry(&sha(1), "t")).unwrap();
        assert!(cache.remove(&scope_a(), &sha(1)).unwrap());
        assert!(!cache.remove(&scope_a(), &sha(1)).unwrap());
        assert_eq!(cache.get(&scope_a(), &sha(1)).unwrap(), None);
    }

    #[test]
    fn keys_that_could_leave_the_folder_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().to_owned()).unwrap();
        let upper = sha(1).replace('0', "A");
        let a = scope_a();
        for (s, h) in [
            ("../../../etc/x", sha(1)),
            ("0123456789ABCDEF", sha(1)),
            ("", sha(1)),
            (&a[..], "../x".to_owned()),
            (&a[..], upper),
            (&a[..], sha(1)[1..].to_owned()),
        ] {
            assert!(
                matches!(cache.get(s, &h), Err(CacheError::BadKey { .. })),
                "{s} {h}"
            );
            assert!(matches!(
                cache.try_lock_hash(s, &h),
                Err(CacheError::BadKey { .. })
            ));
            assert!(matches!(
                cache.put(&at(s), entry(&h, "t")),
                Err(CacheError::BadKey { .. })
            ));
        }
        assert_eq!(
            read_names(&cache.targets_dir()).unwrap(),
            Vec::<OsString>::new()
        );
    }

    /// An upload reads the cache (a miss, and the file is ignored) and then writes it (the file
    /// is set aside): the user hears about the one corrupt file once.
    #[test]
    fn a_corrupt_file_read_then_rewritten_is_one_warning() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().to_owned()).unwrap();
        let s = scope_a();
        fs::write(cache.data_path(&s), "not json at all").unwrap();
        assert_eq!(cache.get(&s, &sha(1)).unwrap(), None);
        cache.put(&at(&s), entry(&sha(1), "t")).unwrap();
        let warnings = cache.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("moved it to"), "{warnings:?}");
    }

    #[test]
    fn corrupt_file_is_set_aside_and_rebuilt_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().to_owned()).unwrap();
        let s = scope_a();
        let path = cache.data_path(&s);
        let wrong_key = format!(
            r#"{{"version":1,"entries":{{"{}":{}}}}}"#,
            sha(1),
            serde_json::to_string(&entry(&sha(2), "t")).unwrap()
        );
        for (i, garbage) in [
            "not json at all".to_owned(),
            r#"{"version":1,"entries":[]}"#.to_owned(),
            r#"{"version":2,"entries":{}}"#.to_owned(),
            wrong_key,
        ]
        .into_iter()
        .enumerate()
        {
            fs::write(&path, &garbage).unwrap();

            // Reading never moves anything: it only ignores, and says so.
            assert_eq!(cache.get(&s, &sha(1)).unwrap(), None, "{garbage}");
            assert_eq!(cache.list().unwrap(), vec![]);
            let warnings = cache.take_warnings();
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert!(
                warnings[0].contains(&path.display().to_string()),
                "{warnings:?}"
            );
            assert_eq!(fs::read_to_string(&path).unwrap(), garbage);

            let target = format!("t-{i}");
            cache.put(&at(&s), entry(&sha(3), &target)).unwrap();
            assert_eq!(cache.get(&s, &sha(3)).unwrap().unwrap().target_id, target);
            let warnings = cache.take_warnings();
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert!(
                warnings[0].contains(&path.display().to_string()),
                "{warnings:?}"
            );
            let aside: Vec<_> = read_names(&cache.targets_dir())
                .unwrap()
                .into_iter()
                .filter(|n| n.to_string_lossy().contains(".json.corrupt-"))
                .collect();
            assert_eq!(aside.len(), 1, "{aside:?}");
            let aside = cache.targets_dir().join(&aside[0]);
            assert!(
                warnings[0].contains(&aside.display().to_string()),
                "{warnings:?}"
            );
            assert_eq!(fs::read_to_string(&aside).unwrap(), garbage);
            fs::remove_file(aside).unwrap();
        }
    }

    #[cfg(unix)]
    #[test]
    fn files_and_folders_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("doksi");
        let cache = Cache::open(root.clone()).unwrap();
        cache.put(&at(&scope_a()), entry(&sha(1), "t")).unwrap();
        let _held = hold(&cache, &scope_a(), &sha(1));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        for file in [
            cache.data_path(&scope_a()),
            cache.scope_lock_path(&scope_a()),
            cache
                .locks_dir()
                .join(format!("{}-{}.lock", scope_a(), sha(1))),
            root.join("CACHEDIR.TAG"),
        ] {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        for folder in [root.clone(), cache.targets_dir(), cache.locks_dir()] {
            assert_eq!(mode(&folder), 0o700, "{}", folder.display());
        }
    }

    #[test]
    fn open_tags_the_folder_as_a_cache() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("nested").join("doksi");
        Cache::open(root.clone()).unwrap();
        let tag = fs::read_to_string(root.join("CACHEDIR.TAG")).unwrap();
        assert!(tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55\n"));
        assert!(tag.ends_with("created by doksi.\n"));
        assert!(root.join(TARGETS).is_dir());
    }

    #[test]
    fn concurrent_puts_into_one_scope_all_survive() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("doksi");
        let start = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8u32)
            .map(|t| {
                let (root, start) = (root.clone(), start.clone());
                std::thread::spawn(move || {
                    // One handle each, as separate processes would have.
                    let cache = Cache::open(root).unwrap();
                    start.wait();
                    for i in 0..10 {
                        cache
                            .put(&at(&scope_a()), entry(&sha(t * 100 + i), "t"))
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let cache = Cache::open(root).unwrap();
        assert_eq!(cache.list().unwrap().len(), 80);
        assert!(cache.take_warnings().is_empty());
    }

    #[test]
    fn lock_hash_lets_a_second_holder_in_only_after_the_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let first_holds = Arc::new(Barrier::new(2));
        let released = Arc::new(AtomicBool::new(false));
        let first = {
            let (root, first_holds, released) =
                (root.clone(), first_holds.clone(), released.clone());
            std::thread::spawn(move || {
                let cache = Cache::open(root).unwrap();
                let guard = hold(&cache, &scope_a(), &sha(9));
                first_holds.wait();
                std::thread::sleep(Duration::from_millis(300));
                released.store(true, Ordering::SeqCst);
                drop(guard);
            })
        };
        let cache = Cache::open(root).unwrap();
        first_holds.wait();
        let _guard = hold(&cache, &scope_a(), &sha(9));
        assert!(
            released.load(Ordering::SeqCst),
            "got the lock while the first thread held it"
        );
        first.join().unwrap();

        // Another hash, or the same hash in another scope, is not held up.
        let other = scope("https://other", "0123456789abcdef");
        let _a = hold(&cache, &scope_a(), &sha(10));
        let _b = hold(&cache, &other, &sha(9));
    }

    #[test]
    fn clear_removes_every_entry_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().to_owned()).unwrap();
        let other = scope("https://other", "0123456789abcdef");
        for i in 0..3 {
            cache.put(&at(&scope_a()), entry(&sha(i), "t")).unwrap();
        }
        cache.put(&at(&other), entry(&sha(1), "t")).unwrap();
        fs::write(
            cache.targets_dir().join(format!("{other}.json.corrupt-1")),
            "x",
        )
        .unwrap();
        fs::write(
            cache.targets_dir().join(format!(".{other}.json.abc123")),
            "x",
        )
        .unwrap();
        fs::write(cache.targets_dir().join("not-ours.txt"), "x").unwrap();
        drop(hold(&cache, &scope_a(), &sha(1)));
        let held = hold(&cache, &scope_a(), &sha(2));

        assert_eq!(cache.clear().unwrap(), 4);
        assert_eq!(cache.list().unwrap(), vec![]);
        assert_eq!(cache.get(&scope_a(), &sha(0)).unwrap(), None);
        assert_eq!(cache.clear().unwrap(), 0);
        let mut left: Vec<String> = read_names(&cache.targets_dir())
            .unwrap()
            .into_iter()
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut expected = vec![
            format!("{other}.json.lock"),
            format!("{}.json.lock", scope_a()),
            "locks".to_owned(),
            "not-ours.txt".to_owned(),
        ];
        expected.sort();
        assert_eq!(left, expected);

        // A lock someone holds survives; one nobody holds goes (on unix, where that is safe).
        let locks: Vec<OsString> = read_names(&cache.locks_dir()).unwrap();
        let held_name = OsString::from(format!("{}-{}.lock", scope_a(), sha(2)));
        assert!(locks.contains(&held_name));
        assert_eq!(locks.len(), if cfg!(unix) { 1 } else { 2 });
        drop(held);

        // After the folder was cleared, locking and writing still work.
        let _again = hold(&cache, &scope_a(), &sha(1));
        cache.put(&at(&scope_a()), entry(&sha(1), "t")).unwrap();
        assert_eq!(cache.list().unwrap().len(), 1);
    }

    /// How a waiter's lock file goes away between its open and its lock.
    #[cfg(unix)]
    #[derive(Clone, Copy)]
    enum Unlinked {
        /// Its holder finishes, and `cache clear` trims the file nobody holds.
        ByClear,
        /// Its holder removes it on release.
        ByHolder,
    }

    /// A waiter that opened the lock file before it was unlinked must notice, after locking,
    /// that the file it locked is no longer the lock: a newcomer has meanwhile created the live
    /// one and holds it. Nobody holds the old file's lock by the time the waiter tries it, so
    /// only noticing the unlink, and opening the live file, finds the newcomer.
    #[cfg(unix)]
    fn a_waiter_starts_over_when_its_file_is(unlinked: Unlinked) {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().to_owned()).unwrap();
        let path = cache
            .locks_dir()
            .join(format!("{}-{}.lock", scope_a(), sha(5)));
        let first = hold(&cache, &scope_a(), &sha(5));
        let newcomer: Rc<Cell<Option<HashLock>>> = Rc::default();
        let others = Cache::open(dir.path().to_owned()).unwrap();
        let in_window = newcomer.clone();
        BETWEEN_OPEN_AND_LOCK.set(Some(Box::new(move || {
            drop(first);
            match unlinked {
                Unlinked::ByClear => {
                    assert_eq!(others.clear().unwrap(), 0);
                    assert!(!path.exists(), "clear left the released lock file");
                }
                Unlinked::ByHolder => assert!(!path.exists(), "the holder left its lock file"),
            }
            in_window.set(Some(hold(&others, &scope_a(), &sha(5))));
        })));
        match cache.try_lock_hash(&scope_a(), &sha(5)).unwrap() {
            Attempt::Held(holder) => assert_eq!(holder.pid, Some(std::process::id())),
            Attempt::Acquired(_) => panic!("took the lock of a file that was unlinked"),
        }
        drop(
            newcomer
                .take()
                .expect("the window between open and lock was reached"),
        );
        assert!(matches!(
            cache.try_lock_hash(&scope_a(), &sha(5)).unwrap(),
            Attempt::Acquired(_)
        ));
    }

    #[cfg(unix)]
    #[test]
    fn a_waiter_whose_lock_file_was_trimmed_starts_over() {
        a_waiter_starts_over_when_its_file_is(Unlinked::ByClear);
    }

    #[cfg(unix)]
    #[test]
    fn a_waiter_whose_lock_file_its_holder_removed_starts_over() {
        a_waiter_starts_over_when_its_file_is(Unlinked::ByHolder);
    }

    #[test]
    fn a_held_lock_names_its_holders_pid_until_it_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().to_owned()).unwrap();
        let held = hold(&cache, &scope_a(), &sha(3));
        let other = Cache::open(dir.path().to_owned()).unwrap();
        let lock_file = other
            .locks_dir()
            .join(format!("{}-{}.lock", scope_a(), sha(3)));
        let expected = Holder {
            pid: Some(std::process::id()),
            lock_file: lock_file.clone(),
        };
        match other.try_lock_hash(&scope_a(), &sha(3)).unwrap() {
            Attempt::Held(holder) => assert_eq!(holder, expected),
            Attempt::Acquired(_) => panic!("took a lock another handle holds"),
        }
        // Released, the file no longer names anyone: on unix it is gone, elsewhere emptied.
        drop(held);
        if cfg!(unix) {
            assert!(!lock_file.exists(), "the holder left its lock file");
        } else {
            assert_eq!(std::fs::read_to_string(&lock_file).unwrap(), "");
        }
        assert!(matches!(
            other.try_lock_hash(&scope_a(), &sha(3)).unwrap(),
            Attempt::Acquired(_)
        ));
    }

    #[test]
    fn a_folder_in_place_of_a_scope_file_is_set_aside_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().to_owned()).unwrap();
        let s = scope_a();
        let path = cache.data_path(&s);
        fs::create_dir_all(path.join("inside")).unwrap();

        assert_eq!(cache.get(&s, &sha(1)).unwrap(), None);
        let warnings = cache.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("it is a folder"), "{warnings:?}");
        assert!(path.is_dir(), "reading moves nothing");

        cache.put(&at(&s), entry(&sha(1), "t")).unwrap();
        assert_eq!(cache.get(&s, &sha(1)).unwrap().unwrap().target_id, "t");
        assert!(path.is_file());
        let aside: Vec<PathBuf> = read_names(&cache.targets_dir())
            .unwrap()
            .into_iter()
            .filter(|n| n.to_string_lossy().contains(".json.corrupt-"))
            .map(|n| cache.targets_dir().join(n))
            .collect();
        assert_eq!(aside.len(), 1, "{aside:?}");
        assert!(aside[0].join("inside").is_dir());

        // `clear` removes the set-aside folder and, were it back, the folder in the file's place.
        fs::remove_file(&path).unwrap();
        fs::create_dir(&path).unwrap();
        assert_eq!(cache.clear().unwrap(), 0);
        assert!(!path.exists());
        assert!(!aside[0].exists());
    }

    #[test]
    fn default_dir_follows_xdg_then_home() {
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(
            dir_from(os("/x/cache"), os("/home/u")),
            Some(PathBuf::from("/x/cache/doksi"))
        );
        assert_eq!(
            dir_from(None, os("/home/u")),
            Some(PathBuf::from("/home/u/.cache/doksi"))
        );
        assert_eq!(
            dir_from(os("relative"), os("/home/u")),
            Some(PathBuf::from("/home/u/.cache/doksi"))
        );
        assert_eq!(
            dir_from(os(""), os("/home/u")),
            Some(PathBuf::from("/home/u/.cache/doksi"))
        );
        assert_eq!(dir_from(None, None), None);
        assert_eq!(dir_from(os(""), os("")), None);
    }

    /// The moment a hash lock is released, what a process that has its file open finds: the
    /// file already unlinked, and its lock still held. Were the unlink after the unlock, that
    /// process could lock the file while it still had its name, and a newcomer later create a
    /// second file under that name: two holders.
    #[cfg(unix)]
    #[test]
    fn a_released_hash_lock_unlinks_its_file_before_it_unlocks() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().to_owned()).unwrap();
        let held = hold(&cache, &scope_a(), &sha(4));
        let path = cache
            .locks_dir()
            .join(format!("{}-{}.lock", scope_a(), sha(4)));
        let waiter = open_lock_file(&path).unwrap();
        let seen: Rc<Cell<Option<(bool, bool)>>> = Rc::default();
        let at_release = seen.clone();
        let waiters_file = waiter.try_clone().unwrap();
        BEFORE_UNLOCK.set(Some(Box::new(move |released: &Path| {
            assert_eq!(released, path);
            let still_named = released.exists();
            let still_locked = matches!(waiters_file.try_lock(), Err(TryLockError::WouldBlock));
            at_release.set(Some((still_named, still_locked)));
        })));
        drop(held);
        let (still_named, still_locked) = seen.take().expect("the release hook ran");
        assert!(
            !still_named,
            "the lock file still had its name while locked"
        );
        assert!(still_locked, "the hook ran after the lock was gone");
        // Now the waiter's lock succeeds, on a file it can tell is no longer the lock.
        waiter.try_lock().unwrap();
        let path = cache
            .locks_dir()
            .join(format!("{}-{}.lock", scope_a(), sha(4)));
        assert!(!still_linked(&waiter, &path).unwrap());
        assert_eq!(
            read_names(&cache.locks_dir()).unwrap(),
            Vec::<OsString>::new()
        );
    }

    /// Many holders taking and releasing one hash lock as fast as they can (each its own handle,
    /// as processes would): never two at once, and no file left behind.
    #[test]
    fn hash_locks_taken_and_released_in_a_race_never_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (root, inside, start) = (root.clone(), inside.clone(), start.clone());
                std::thread::spawn(move || {
                    let cache = Cache::open(root).unwrap();
                    start.wait();
                    for _ in 0..150 {
                        let lock = hold(&cache, &scope_a(), &sha(8));
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                        drop(lock);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let cache = Cache::open(root).unwrap();
        let left = read_names(&cache.locks_dir()).unwrap();
        assert_eq!(left.len(), if cfg!(unix) { 0 } else { 1 }, "{left:?}");
    }

    /// Sets a file's modification time `ago` back.
    fn age(path: &Path, ago: Duration) {
        OpenOptions::new()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(SystemTime::now() - ago)
            .unwrap();
    }

    /// What a killed holder leaves: its pid in a lock file nobody holds.
    fn leftover(cache: &Cache, n: u32, ago: Duration) -> PathBuf {
        let path = cache
            .locks_dir()
            .join(format!("{}-{}.lock", scope_a(), sha(n)));
        fs::write(&path, "999999\n").unwrap();
        age(&path, ago);
        path
    }

    #[cfg(unix)]
    #[test]
    fn leftover_hash_locks_older_than_an_hour_go_at_the_first_lock_of_a_handle() {
        let dir = tempfile::tempdir().unwrap();
        let holder = Cache::open(dir.path().to_owned()).unwrap();
        let held = hold(&holder, &scope_a(), &sha(1));
        let held_path = holder
            .locks_dir()
            .join(format!("{}-{}.lock", scope_a(), sha(1)));
        age(&held_path, Duration::from_secs(3 * 60 * 60));
        let old = leftover(&holder, 2, STALE_LOCK_AGE + Duration::from_secs(60));
        let young = leftover(&holder, 3, STALE_LOCK_AGE - Duration::from_secs(60));
        let not_a_lock = holder.locks_dir().join("notes.txt");
        fs::write(&not_a_lock, "x").unwrap();
        age(&not_a_lock, Duration::from_secs(3 * 60 * 60));

        // Reading does not trim; the first lock taken does.
        let cache = Cache::open(dir.path().to_owned()).unwrap();
        assert_eq!(cache.get(&scope_a(), &sha(2)).unwrap(), None);
        assert!(old.exists());
        drop(hold(&cache, &scope_a(), &sha(9)));
        assert!(!old.exists(), "the killed holder's file stayed");
        assert!(young.exists(), "a file younger than an hour was trimmed");
        assert!(held_path.exists(), "a held lock's file was removed");
        assert!(not_a_lock.exists());
        match cache.try_lock_hash(&scope_a(), &sha(1)).unwrap() {
            Attempt::Held(h) => assert_eq!(h.pid, Some(std::process::id())),
            Attempt::Acquired(_) => panic!("the held lock was taken"),
        }

        // Once per handle: a second leftover waits for the next handle.
        let again = leftover(&cache, 4, STALE_LOCK_AGE + Duration::from_secs(60));
        drop(hold(&cache, &scope_a(), &sha(9)));
        assert!(again.exists());
        let next = Cache::open(dir.path().to_owned()).unwrap();
        drop(hold(&next, &scope_a(), &sha(9)));
        assert!(!again.exists());
        assert!(held_path.exists());
        drop(held);
        assert!(!held_path.exists());
    }

    #[test]
    fn a_scope_file_records_host_and_key_hint_and_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().to_owned()).unwrap();
        let key = "dk_live_0123456789abcdef0123456789abcdef01233f9a";
        let scope = Scope::new(
            "https://api.doksi.ai/external/integration/cicd",
            "api.doksi.ai",
            "0123456789abcdef",
            key,
        );
        assert_eq!(
            scope.id,
            crate::cache::scope(
                "https://api.doksi.ai/external/integration/cicd",
                "0123456789abcdef"
            )
        );
        assert_eq!(scope.account.key_hint, "3f9a", "only the last four");
        assert_eq!(scope.account.to_string(), "api.doksi.ai key …3f9a");
        cache.put(&scope, entry(&sha(1), "t-1")).unwrap();
        cache.put(&scope, entry(&sha(2), "t-2")).unwrap();

        let text = fs::read_to_string(cache.data_path(&scope.id)).unwrap();
        assert!(!text.contains(&key[..key.len() - 1]), "{text}");
        assert!(!text.contains("33f9a"), "more of the key than four: {text}");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["host"], "api.doksi.ai");
        assert_eq!(json["key_hint"], "3f9a");

        // A removal, which knows no account, keeps the recorded one.
        assert!(cache.remove(&scope.id, &sha(2)).unwrap());
        let listed = cache.list().unwrap();
        assert_eq!(
            listed,
            vec![Listed {
                scope: scope.id.clone(),
                account: Some(scope.account.clone()),
                entry: entry(&sha(1), "t-1"),
            }]
        );
    }

    /// A file written before host and key hint existed loads and lists, without an account; and
    /// the first put records one.
    #[test]
    fn a_scope_file_without_host_and_key_hint_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().to_owned()).unwrap();
        let s = scope_a();
        let old = format!(
            r#"{{"version":1,"entries":{{"{}":{}}}}}"#,
            sha(1),
            serde_json::to_string(&entry(&sha(1), "t-1")).unwrap()
        );
        fs::write(cache.data_path(&s), &old).unwrap();
        assert_eq!(cache.get(&s, &sha(1)).unwrap(), Some(entry(&sha(1), "t-1")));
        let listed = cache.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].account, None);
        assert!(cache.take_warnings().is_empty());

        cache.put(&at(&s), entry(&sha(2), "t-2")).unwrap();
        let listed = cache.list().unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|l| l.account == Some(at(&s).account)));
    }

    /// What a doksi from before host and key hint does with a file that has them: the same as
    /// with any other field it does not know, ignore it. Its reader is this struct as it was.
    #[test]
    fn a_reader_from_before_host_and_key_hint_reads_a_file_with_them() {
        #[derive(Deserialize)]
        struct ScopeFileBefore {
            version: u32,
            entries: Entries,
        }
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().to_owned()).unwrap();
        cache.put(&at(&scope_a()), entry(&sha(1), "t-1")).unwrap();
        let bytes = fs::read(cache.data_path(&scope_a())).unwrap();
        let before: ScopeFileBefore = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(before.version, FORMAT_VERSION);
        assert_eq!(before.entries[&sha(1)], entry(&sha(1), "t-1"));
    }

    /// A host or hint that is not what doksi writes (a hand edit, a terminal escape, more of a
    /// key) is not shown: the entry lists under its scope hash instead.
    #[test]
    fn a_garbled_host_or_key_hint_is_not_shown() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().to_owned()).unwrap();
        let s = scope_a();
        let e = serde_json::to_string(&entry(&sha(1), "t-1")).unwrap();
        for (host, hint) in [
            (r#""api.doksi.ai""#, r#""0123456789abcdef""#),
            (r#""api.doksi.ai""#, r#""3f""#),
            (r#""\u001b[31mevil""#, r#""3f9a""#),
            (r#""""#, r#""3f9a""#),
            (r#""api.doksi.ai""#, "null"),
            ("7", r#""3f9a""#),
        ] {
            let text = format!(
                r#"{{"version":1,"host":{host},"key_hint":{hint},"entries":{{"{}":{e}}}}}"#,
                sha(1)
            );
            fs::write(cache.data_path(&s), &text).unwrap();
            let listed = cache.list().unwrap();
            let warnings = cache.take_warnings();
            if host == "7" {
                // Not a string where one belongs: the file is not doksi's, as before.
                assert!(listed.is_empty() && warnings.len() == 1, "{warnings:?}");
                continue;
            }
            assert_eq!(listed.len(), 1, "{text}");
            assert_eq!(listed[0].account, None, "{text}");
            assert!(warnings.is_empty(), "{warnings:?}");
        }
    }
}
