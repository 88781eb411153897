use std::fmt;

use serde::{Deserialize, Serialize};

/// An ISO 4217 currency code: exactly three upper-case ASCII letters, stored inline.
///
/// Only the shape is checked (the contract's rule); whether the code is assigned is the
/// producer's business.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Parses a code, `None` unless it is three upper-case ASCII letters.
    pub fn parse(code: &str) -> Option<Currency> {
        let bytes: [u8; 3] = code.as_bytes().try_into().ok()?;
        bytes.iter().all(u8::is_ascii_uppercase).then_some(Currency(bytes))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only upper-case ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Currency;

    #[test]
    fn only_three_upper_case_letters_are_a_currency() {
        assert_eq!(Currency::parse("EUR").map(|c| c.to_string()), Some("EUR".to_string()));
        for bad in ["eur", "EU", "EURO", "E1R", "", "ÉUR"] {
            assert_eq!(Currency::parse(bad), None, "{bad:?}");
        }
    }
}
