//! `Display` and `FromStr` for the vocabulary's enums, from their `ALL` and `as_str`, so
//! that every word is spelled in one place.

/// A word that names none of a type's values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{word:?}: expected {expected}")]
pub struct Unknown {
    /// The word given.
    pub word: String,
    /// The words that would do, as a sentence (`x86_64 or arm64`).
    pub expected: &'static str,
}

/// Implements `Display` (the `as_str` name) and `FromStr` (one of `ALL` by name, else
/// [`Unknown`] listing `$expected`) for `$t`.
macro_rules! text_forms {
    ($t:ty, $expected:literal) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $t {
            type Err = $crate::Unknown;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$t>::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $crate::Unknown { word: s.to_string(), expected: $expected })
            }
        }
    };
}
pub(crate) use text_forms;

/// Defines an enum of EC2 names: each variant with the string EC2 spells it as (also
/// its serde form), `ALL`, `as_str`, `Display` and `FromStr`.
macro_rules! ec2_names {
    ($(#[$doc:meta])* $name:ident ($expected:literal) { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every value, in the order the documentation lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The name as EC2 spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        $crate::names::text_forms!($name, $expected);
    };
}
pub(crate) use ec2_names;
