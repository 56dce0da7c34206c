//! What the library's work says on the way (a step done, a note, a warning) and how far an
//! upload has got, as values and traits: the library never prints, and `commands` decides where
//! each goes (stderr, silenced by `-q`; a warning once). A leaf, so every step may say things.

/// What the work tells its caller on the way; the [`Reporter`] decides where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remark {
    /// A step of the work done, said as it is: an APK uploaded, a bundle being converted.
    Step(String),
    /// Progress worth a line: a refused upload URL replaced, a wait for another doksi.
    Note(String),
    /// Detail for `-v`: how an upload was sent, and why.
    Detail(String),
    /// The cache could not help (a wait given up, a folder that cannot be read or written); the
    /// upload went on without it.
    Warning(String),
}

/// Where the work's remarks and upload progress go: the terminal for `commands`, anything for
/// a test. The library never prints.
pub trait Reporter: Send + Sync {
    fn remark(&self, remark: Remark);
    /// Progress of one upload, named for the person reading (the file name).
    fn progress(&self, name: &str) -> Box<dyn Progress + '_>;
}

/// One upload's progress, as bytes of its zip sent.
pub trait Progress: Send + Sync {
    fn update(&self, sent: u64, total: u64);
    fn finish(&self);
}
