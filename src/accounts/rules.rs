//! The seed's field rules for accounts, as plain functions (no regex engine needed), and the
//! verification code generator.

use rand::Rng;

/// Longest accepted email (the column is 255; RFC 5321 allows 254).
pub const EMAIL_MAX_CHARS: usize = 254;
/// Password length bounds (characters).
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=15;
/// Nickname length bounds (characters).
pub const NICKNAME_CHARS: std::ops::RangeInclusive<usize> = 4..=10;
/// Length of an email verification code.
pub const CODE_CHARS: usize = 6;
/// Longest accepted address field (the columns are 255).
pub const ADDRESS_FIELD_MAX_CHARS: usize = 255;

/// The seed's email rule:
/// `^(?=.{1,64}@)[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(\.[A-Za-z]{2,})$`,
/// plus an overall length bound.
pub fn is_valid_email(email: &str) -> bool {
    if email.len() > EMAIL_MAX_CHARS {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = (1..=64).contains(&local.len())
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b));
    if !local_ok {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let (last, rest) = labels.split_last().expect("at least two labels");
    rest.iter()
        .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        && last.len() >= 2
        && last.bytes().all(|b| b.is_ascii_alphabetic())
}

/// The seed's password rule: 8 to 15 characters of `[a-zA-Z0-9!@#$%^&*()_+\-=]`.
pub fn is_valid_password(password: &str) -> bool {
    PASSWORD_CHARS.contains(&password.chars().count())
        && password
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!@#$%^&*()_+-=".contains(&b))
}

/// The seed's nickname rule: 4 to 10 characters of `[a-z0-9]`.
pub fn is_valid_nickname(nickname: &str) -> bool {
    NICKNAME_CHARS.contains(&nickname.chars().count())
        && nickname
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A fresh verification code: [`CODE_CHARS`] characters of `[0-9A-Za-z]` from the thread's CSPRNG.
pub fn new_verification_code() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(CODE_CHARS)
        .map(char::from)
        .collect()
}

/// Compare two secrets in time independent of where they first differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["a@b.co", "first.last+tag@mail.example.com", "x_%-1@a-b.io"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        let long_local = format!("{}@a.co", "a".repeat(65));
        for bad in [
            "",
            "a",
            "a@b",
            "a@b.c",
            "a@b.c0",
            "@b.co",
            "a@@b.co",
            "a@.b.co",
            "a@b..co",
            "a b@c.co",
            "한@b.co",
            long_local.as_str(),
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn passwords_and_nicknames() {
        assert!(is_valid_password("Secret12!"));
        assert!(is_valid_password("abcdefgh"));
        assert!(!is_valid_password("short1!"));
        assert!(!is_valid_password("waytoolongpassword1"));
        assert!(!is_valid_password("has space1"));
        assert!(!is_valid_password("비밀번호비밀번호"));
        assert!(is_valid_nickname("abcd"));
        assert!(is_valid_nickname("user123456"));
        assert!(!is_valid_nickname("abc"));
        assert!(!is_valid_nickname("Abcd"));
        assert!(!is_valid_nickname("user1234567"));
        assert!(!is_valid_nickname("ab_cd"));
    }

    #[test]
    fn codes() {
        let c = new_verification_code();
        assert_eq!(c.len(), CODE_CHARS);
        assert!(c.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
