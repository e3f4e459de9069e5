//! Text helpers for Vietnamese: NFC normalisation, diacritic folding, the rule that decides
//! which characters a text value may hold ([`check_characters`]), and the rule for record keys
//! ([`check_record_key`]).

use unicode_normalization::{UnicodeNormalization, char::is_combining_mark, is_nfc_quick};

/// Removes Vietnamese diacritics: `Nguyễn Văn Đức` → `Nguyen Van Duc`.
pub fn fold_diacritics(s: &str) -> String {
    s.nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'đ' => 'd',
            'Đ' => 'D',
            other => other,
        })
        .collect()
}

/// The form texts are compared in when searching and matching: no diacritics, lower case
/// (`Hà Nội` → `ha noi`).
pub fn fold_lowercase(s: &str) -> String {
    fold_diacritics(s).to_lowercase()
}

/// Returns `s` in Unicode NFC, borrowing when it already is.
pub fn nfc(s: &str) -> std::borrow::Cow<'_, str> {
    // ASCII is always NFC, and checking it is much cheaper than the general quick check.
    if s.is_ascii() || is_nfc_quick(s.chars()) == unicode_normalization::IsNormalized::Yes {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(s.nfc().collect())
    }
}

/// Why a text value's characters are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFault {
    /// No visible character at all: empty after whitespace, invisible characters and marks.
    Blank,
    /// A control character (C0, DEL, C1), or a line break or tab in single-line text.
    Control {
        /// The character.
        c: char,
        /// Its 1-based position in characters.
        position: usize,
    },
    /// A character that changes the direction of the text around it (a "Trojan source").
    Bidi {
        /// The character.
        c: char,
        /// Its 1-based position in characters.
        position: usize,
    },
    /// A zero-width or other invisible formatting character.
    Invisible {
        /// The character.
        c: char,
        /// Its 1-based position in characters.
        position: usize,
    },
    /// The value starts with a combining mark, which has no letter to sit on.
    LeadingMark {
        /// The mark.
        c: char,
    },
}

impl TextFault {
    /// The stable error code.
    pub fn code(self) -> &'static str {
        match self {
            TextFault::Blank => "blank",
            TextFault::Control { .. } => "control-character",
            TextFault::Bidi { .. } => "bidi-control",
            TextFault::Invisible { .. } => "invisible-character",
            TextFault::LeadingMark { .. } => "combining-mark-first",
        }
    }

    /// What is wrong, for a person; never echoes the whole value.
    pub fn describe(self) -> String {
        match self {
            TextFault::Blank => "holds no visible character".into(),
            TextFault::Control { c, position } => {
                format!(
                    "contains the control character {} at position {position}",
                    unicode_name(c)
                )
            }
            TextFault::Bidi { c, position } => format!(
                "contains the bidirectional control {} at position {position}",
                unicode_name(c)
            ),
            TextFault::Invisible { c, position } => format!(
                "contains the invisible character {} at position {position}",
                unicode_name(c)
            ),
            TextFault::LeadingMark { c } => format!(
                "starts with the combining mark {}, which has no letter to sit on",
                unicode_name(c)
            ),
        }
    }
}

/// `U+202E`.
fn unicode_name(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

/// Characters that reorder the text around them (Unicode bidirectional formatting characters).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Zero-width and other invisible formatting characters (Unicode category Cf, less the
/// bidirectional ones, which [`is_bidi_control`] names), and the invisible fillers.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{0600}'..='\u{0605}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200D}'
            | '\u{2060}'..='\u{2065}'
            | '\u{206A}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Checks the characters of a text value: it must hold at least one visible character, must
/// not start with a combining mark, and may hold no control character (line feed and tab only
/// in `multiline` text; never a carriage return, which a CSV line ending leaves behind), no
/// line or paragraph separator outside multiline text, no bidirectional control and no
/// invisible formatting character. Whitespace inside the value is the writer's business.
pub fn check_characters(s: &str, multiline: bool) -> Result<(), TextFault> {
    let mut visible = false;
    for (i, c) in s.chars().enumerate() {
        let position = i + 1;
        if i == 0 && is_combining_mark(c) {
            return Err(TextFault::LeadingMark { c });
        }
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            if !(multiline && matches!(c, '\n' | '\t' | '\u{2028}' | '\u{2029}')) {
                return Err(TextFault::Control { c, position });
            }
        } else if is_bidi_control(c) {
            return Err(TextFault::Bidi { c, position });
        } else if is_invisible(c) {
            return Err(TextFault::Invisible { c, position });
        } else if !c.is_whitespace() && !is_combining_mark(c) {
            visible = true;
        }
    }
    if visible {
        Ok(())
    } else {
        Err(TextFault::Blank)
    }
}

/// The longest record key, in bytes (UTF-8). Both engines index keys; PostgreSQL refuses an
/// index row above about 2,700 bytes, so ndx sets one bound well below it for every engine.
pub const MAX_KEY_BYTES: usize = 1024;

/// Checks a record key (one key field's value, or the key fields' values joined with `|`): not
/// empty, at most [`MAX_KEY_BYTES`] bytes, no control character. Says what is wrong.
pub fn check_record_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("is empty".into());
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "is {} bytes long; a key holds at most {MAX_KEY_BYTES}",
            key.len()
        ));
    }
    match key.chars().position(char::is_control) {
        Some(i) => Err(format!(
            "contains the control character {} at position {}",
            unicode_name(key.chars().nth(i).unwrap_or('\0')),
            i + 1
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_vietnamese() {
        assert_eq!(fold_diacritics("Nguyễn Văn Đức"), "Nguyen Van Duc");
        assert_eq!(fold_diacritics("Hồ Chí Minh"), "Ho Chi Minh");
    }

    #[test]
    fn nfc_composes_decomposed_input() {
        let decomposed: String = "Nguyễn".nfd().collect();
        assert_ne!(decomposed, "Nguyễn");
        assert_eq!(nfc(&decomposed), "Nguyễn");
        assert!(matches!(nfc("Nguyễn"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn characters_a_value_may_hold() {
        let code = |s: &str, multiline| check_characters(s, multiline).err().map(TextFault::code);
        for ok in ["Nguyễn Văn A", "Đỗ  Thị", " a ", "x", "Số 5, ngõ 7"] {
            assert_eq!(code(ok, false), None, "{ok:?}");
        }
        assert_eq!(code("Số 5\nNgõ 7\tX", true), None);
        for (bad, expected) in [
            ("", "blank"),
            ("   ", "blank"),
            ("\u{3000}\u{a0}", "blank"),
            ("\t", "control-character"),
            ("A\nB", "control-character"),
            ("A\u{2028}B", "control-character"),
            ("A\u{7f}", "control-character"),
            ("A\u{85}", "control-character"),
            ("\u{200B}", "invisible-character"),
            ("\u{FEFF}Nguyễn", "invisible-character"),
            ("a\u{200B}@b.com", "invisible-character"),
            ("\u{0301}", "combining-mark-first"),
            ("\u{0301}a", "combining-mark-first"),
            ("abc\u{202E}def", "bidi-control"),
            ("abc\u{2066}", "bidi-control"),
        ] {
            assert_eq!(code(bad, false), Some(expected), "{bad:?}");
        }
        assert_eq!(code("A\r\nB", true), Some("control-character"));
        assert_eq!(code("\n\t", true), Some("blank"));
        assert_eq!(code("A\u{202E}", true), Some("bidi-control"));
        assert_eq!(
            check_characters("ab\u{202E}", false)
                .unwrap_err()
                .describe(),
            "contains the bidirectional control U+202E at position 3"
        );
    }
}
