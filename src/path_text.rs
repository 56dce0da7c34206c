//! How a path becomes text in doksi's JSON. A path is bytes (unix) or UTF-16 units (Windows), and
//! serde refuses one that is not Unicode — after the upload it describes already happened. So
//! paths are serialized through here, infallibly: valid UTF-8 unchanged, and each byte that is not
//! part of one as `\xNN` (two hex digits), as Python's `repr` and `ls -b` would show it. Text output
//! uses `Path::display`, which shows such bytes as U+FFFD instead.

use std::path::Path;

/// The path as JSON shows it; see the module comment.
pub fn escaped(path: &Path) -> String {
    let mut text = String::new();
    for chunk in path.as_os_str().as_encoded_bytes().utf8_chunks() {
        text.push_str(chunk.valid());
        for byte in chunk.invalid() {
            text.push_str(&format!("\\x{byte:02X}"));
        }
    }
    text
}

/// For `#[serde(serialize_with = "crate::path_text::serialize")]` on a `PathBuf` field.
pub fn serialize<S: serde::Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&escaped(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_stays_and_other_bytes_are_escaped() {
        assert_eq!(escaped(Path::new("app/café.apk")), "app/café.apk");
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let path = Path::new(std::ffi::OsStr::from_bytes(b"caf\xe9/x\xff\xfe.apk"));
            assert_eq!(escaped(path), r"caf\xE9/x\xFF\xFE.apk");
            let wrapped = Wrapped {
                path: path.to_owned(),
            };
            let json = serde_json::to_string(&wrapped).unwrap();
            assert_eq!(json, r#"{"path":"caf\\xE9/x\\xFF\\xFE.apk"}"#);
        }
    }

    #[derive(serde::Serialize)]
    struct Wrapped {
        #[serde(serialize_with = "serialize")]
        path: std::path::PathBuf,
    }
}
