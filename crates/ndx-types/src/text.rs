//! Text helpers for Vietnamese: NFC normalisation and diacritic folding.

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

/// Returns `s` in Unicode NFC, borrowing when it already is.
pub fn nfc(s: &str) -> std::borrow::Cow<'_, str> {
    // ASCII is always NFC, and checking it is much cheaper than the general quick check.
    if s.is_ascii() || is_nfc_quick(s.chars()) == unicode_normalization::IsNormalized::Yes {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(s.nfc().collect())
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
}
