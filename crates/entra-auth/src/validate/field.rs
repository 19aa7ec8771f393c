//! Typed-field serde machinery: a claim that is absent, valid, or of the wrong type (never a
//! parse failure of the whole object, so each claim gets a precise error), and the raw header
//! and claims read with it.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::InvalidToken;

/// A JSON field that is absent, of the expected type, or of another type (never a parse
/// failure of the whole object, so each claim gets a precise error).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum Field<T> {
    #[default]
    Absent,
    Valid(T),
    Invalid,
}

impl<T> Field<T> {
    pub(super) fn required(self, name: &'static str) -> Result<T, InvalidToken> {
        match self {
            Field::Valid(v) => Ok(v),
            Field::Absent => Err(InvalidToken::MissingClaim(name)),
            Field::Invalid => Err(InvalidToken::InvalidClaim(name)),
        }
    }

    pub(super) fn optional(self, name: &'static str) -> Result<Option<T>, InvalidToken> {
        match self {
            Field::Valid(v) => Ok(Some(v)),
            Field::Absent => Ok(None),
            Field::Invalid => Err(InvalidToken::InvalidClaim(name)),
        }
    }

    /// Whether the claim is absent (a claim of the wrong type is present).
    pub(super) fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }

    pub(super) fn lenient(self) -> Option<T> {
        match self {
            Field::Valid(v) => Some(v),
            _ => None,
        }
    }
}

/// Consumes whatever compound value is next and reports it as the wrong type.
fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

macro_rules! wrong_type_visits {
    ($out:ty) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<$out, E> {
            Ok(Field::Invalid)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<$out, E> {
            Ok(Field::Invalid)
        }
        fn visit_unit<E: de::Error>(self) -> Result<$out, E> {
            Ok(Field::Invalid)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<$out, A::Error> {
            skip_map(map)?;
            Ok(Field::Invalid)
        }
    };
}

struct StringVisitor;

impl<'de> Visitor<'de> for StringVisitor {
    type Value = Field<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Valid(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Valid(v))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Field::Invalid)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Field::Invalid)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq)?;
        Ok(Field::Invalid)
    }
    wrong_type_visits!(Self::Value);
}

impl<'de> Deserialize<'de> for Field<String> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StringVisitor)
    }
}

struct IntVisitor;

impl<'de> Visitor<'de> for IntVisitor {
    type Value = Field<i64>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Field::Valid(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Field::Invalid, Field::Valid))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Field::Invalid)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq)?;
        Ok(Field::Invalid)
    }
    wrong_type_visits!(Self::Value);
}

impl<'de> Deserialize<'de> for Field<i64> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntVisitor)
    }
}

struct StringListVisitor(PhantomData<()>);

impl<'de> Visitor<'de> for StringListVisitor {
    type Value = Field<Vec<String>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of strings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        let mut ok = true;
        while let Some(item) = seq.next_element::<Field<String>>()? {
            match item {
                Field::Valid(s) if ok => out.push(s),
                _ => ok = false,
            }
        }
        Ok(if ok {
            Field::Valid(out)
        } else {
            Field::Invalid
        })
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Field::Invalid)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Field::Invalid)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Field::Invalid)
    }
    wrong_type_visits!(Self::Value);
}

impl<'de> Deserialize<'de> for Field<Vec<String>> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StringListVisitor(PhantomData))
    }
}

#[derive(Deserialize)]
pub(super) struct RawHeader {
    #[serde(default)]
    pub(super) alg: Field<String>,
    #[serde(default)]
    pub(super) kid: Field<String>,
    #[serde(default)]
    pub(super) x5t: Field<String>,
    #[serde(default)]
    pub(super) crit: Option<IgnoredAny>,
    #[serde(default)]
    pub(super) nonce: Option<IgnoredAny>,
}

#[derive(Deserialize, Default)]
pub(super) struct RawClaims {
    #[serde(default)]
    pub(super) aud: Field<String>,
    #[serde(default)]
    pub(super) iss: Field<String>,
    #[serde(default)]
    pub(super) exp: Field<i64>,
    #[serde(default)]
    pub(super) nbf: Field<i64>,
    #[serde(default)]
    pub(super) iat: Field<i64>,
    #[serde(default)]
    pub(super) tid: Field<String>,
    #[serde(default)]
    pub(super) ver: Field<String>,
    #[serde(default)]
    pub(super) oid: Field<String>,
    #[serde(default)]
    pub(super) sub: Field<String>,
    #[serde(default)]
    pub(super) azp: Field<String>,
    #[serde(default)]
    pub(super) appid: Field<String>,
    #[serde(default)]
    pub(super) azpacr: Field<String>,
    #[serde(default)]
    pub(super) appidacr: Field<String>,
    #[serde(default)]
    pub(super) scp: Field<String>,
    #[serde(default)]
    pub(super) roles: Field<Vec<String>>,
    #[serde(default)]
    pub(super) name: Field<String>,
    #[serde(default)]
    pub(super) preferred_username: Field<String>,
    #[serde(default)]
    pub(super) upn: Field<String>,
    #[serde(default)]
    pub(super) unique_name: Field<String>,
    #[serde(default)]
    pub(super) idtyp: Field<String>,
}
