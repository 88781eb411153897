//! Secrets from files: every secret setting `X` has a sibling `X_file` naming a file that holds
//! it (`kafka.sasl_password_file`, `FLOWMART__KAFKA__SASL_PASSWORD_FILE`, `DATABASE_URL_FILE`),
//! as Docker and Kubernetes secrets are mounted. The file's content is the secret, less one final
//! line break.

use std::io::Read;
use std::path::Path;

/// Longer than any secret; a file beyond it (`/dev/zero`, a wrong path) is refused.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Fills `value` from `file` when one is named; the problem, as (setting, what is wrong), when
/// both are given or the file cannot be read.
pub(super) fn resolve(
    key: &str,
    value: &mut Option<String>,
    file: &Option<std::path::PathBuf>,
) -> Option<(String, String)> {
    let file = file.as_deref()?;
    let setting = format!("{key}_file");
    if value.is_some() {
        return Some((setting, format!("and {key} are both set; set one")));
    }
    match read(file) {
        Ok(secret) => {
            *value = Some(secret);
            None
        }
        Err(problem) => Some((setting, problem)),
    }
}

/// The secret `path` holds.
pub(crate) fn read(path: &Path) -> Result<String, String> {
    readable(path)?;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_SECRET_BYTES + 1).read_to_string(&mut text))
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    if text.len() as u64 > MAX_SECRET_BYTES {
        return Err(format!("{} is over {MAX_SECRET_BYTES} bytes: not a secret", path.display()));
    }
    let secret = text.strip_suffix('\n').map(|text| text.strip_suffix('\r').unwrap_or(text)).unwrap_or(&text);
    if secret.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(secret.to_string())
}

/// Whether `path` is a regular file this process can open (a FIFO or a device is refused: reading
/// one could block or never end).
pub(super) fn readable(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => {
            std::fs::File::open(path).map(drop).map_err(|error| format!("cannot read {}: {error}", path.display()))
        }
        Ok(_) => Err(format!("{} is not a regular file", path.display())),
        Err(error) => Err(format!("cannot read {}: {error}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_file_gives_its_content_less_the_final_line_break() {
        let path = std::env::temp_dir().join(format!("flowmart-secret-{}", std::process::id()));
        std::fs::write(&path, "s3cret\r\n").unwrap();
        assert_eq!(read(&path).unwrap(), "s3cret");
        std::fs::write(&path, "two\nlines\n").unwrap();
        assert_eq!(read(&path).unwrap(), "two\nlines");
        std::fs::write(&path, "\n").unwrap();
        assert!(read(&path).unwrap_err().contains("is empty"));

        let mut value = Some("given".to_string());
        let (setting, problem) = resolve("kafka.sasl_password", &mut value, &Some(path.clone())).unwrap();
        assert_eq!(setting, "kafka.sasl_password_file");
        assert!(problem.contains("both"), "{problem}");
        std::fs::remove_file(&path).unwrap();

        let mut value = None;
        let (_, problem) = resolve("kafka.sasl_password", &mut value, &Some(path.clone())).unwrap();
        assert!(problem.contains("cannot read"), "{problem}");
        assert!(read(Path::new("/dev/zero")).unwrap_err().contains("not a regular file"));
    }
}
