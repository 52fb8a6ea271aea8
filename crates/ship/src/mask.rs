//! What must not leave the host: e-mail addresses, IPv4 addresses or any regex, replaced
//! in each line before it is produced, so the personal data never reaches Kafka.

use regex::Regex;

use crate::ShipError;

/// The rules named on the command line, applied in order.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    rules: Vec<(Regex, &'static str)>,
}

const EMAIL: &str = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}";
const IPV4: &str = r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b";

impl Masker {
    /// Rules from `--mask` values: `email`, `ipv4`, or `regex:PATTERN`; each may hold
    /// several, comma-separated (`email,ipv4`).
    pub fn parse(given: &[String]) -> Result<Self, ShipError> {
        let mut rules = Vec::new();
        for value in given {
            if let Some(pattern) = value.strip_prefix("regex:") {
                let regex = Regex::new(pattern).map_err(|e| ShipError::Mask {
                    given: value.clone(),
                    message: e.to_string(),
                })?;
                rules.push((regex, "<masked>"));
                continue;
            }
            for name in value.split(',').map(str::trim) {
                let (pattern, replacement) = match name {
                    "email" => (EMAIL, "<email>"),
                    "ipv4" => (IPV4, "<ipv4>"),
                    other => {
                        return Err(ShipError::Mask {
                            given: other.to_string(),
                            message: "the rules are email, ipv4 and regex:PATTERN".into(),
                        });
                    }
                };
                rules.push((Regex::new(pattern).expect("a fixed pattern"), replacement));
            }
        }
        Ok(Self { rules })
    }

    /// The line with every rule applied.
    pub fn apply(&self, line: &[u8]) -> Vec<u8> {
        if self.rules.is_empty() {
            return line.to_vec();
        }
        let mut text = String::from_utf8_lossy(line).into_owned();
        for (regex, replacement) in &self.rules {
            text = regex.replace_all(&text, *replacement).into_owned();
        }
        text.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_replaced_and_the_rest_kept() {
        let masker = Masker::parse(&["email,ipv4".into(), "regex:card=\\d+".into()]).unwrap();
        let line = b"login ok user=ada@example.org from 10.1.2.3 card=4111 v1.2.3";
        assert_eq!(
            String::from_utf8(masker.apply(line)).unwrap(),
            "login ok user=<email> from <ipv4> <masked> v1.2.3"
        );
        assert!(Masker::parse(&["phone".into()]).is_err());
        assert!(Masker::parse(&["regex:(".into()]).is_err());
    }
}
