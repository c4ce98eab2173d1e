//! Wire conventions shared by every iikoCloud contract: the date-time format, open enums, wrappers.
use std::fmt;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// Defines a string enum that also accepts values iiko adds later, so a new value never fails a whole response.
macro_rules! open_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$variant_meta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$variant_meta])* $variant,)+
            /// A value this client does not know yet, kept verbatim.
            Unknown(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Unknown(value) => value,
                }
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $($wire => Self::$variant,)+
                    other => Self::Unknown(other.to_owned()),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = <::std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok(Self::from(value.as_ref()))
            }
        }
    };
}

/// Like `open_enum!` for the loyalty API's integer enums.
macro_rules! open_int_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$variant_meta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$variant_meta])* $variant,)+
            /// A value this client does not know yet, kept verbatim.
            Unknown(i64),
        }

        impl $name {
            pub fn as_i64(&self) -> i64 {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Unknown(value) => *value,
                }
            }
        }

        impl From<i64> for $name {
            fn from(value: i64) -> Self {
                match value {
                    $($wire => Self::$variant,)+
                    other => Self::Unknown(other),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_i64(self.as_i64())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Ok(Self::from(i64::deserialize(deserializer)?))
            }
        }
    };
}

pub(crate) use {open_enum, open_int_enum};

/// iiko's `yyyy-MM-dd HH:mm:ss.fff` date-time. It carries no offset: order times are the terminal group's
/// local time, webhook `eventTime` and stop-list `dateAdd` are UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IikoDateTime(pub NaiveDateTime);

const WIRE_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";
/// `%.f` accepts no fraction or 1–9 fractional digits, which covers .NET's 7-digit ticks.
const PARSE_FORMATS: [&str; 2] = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"];

impl IikoDateTime {
    /// The wall-clock time at a branch in `tz` for an absolute instant, as iiko expects `completeBefore`.
    pub fn local_at<Z: TimeZone>(instant: &DateTime<Z>, tz: Tz) -> Self {
        Self(instant.with_timezone(&tz).naive_local())
    }

    /// Reads a value iiko documents as UTC (webhook `eventTime`, stop-list `dateAdd`).
    pub fn assume_utc(self) -> DateTime<Utc> {
        self.0.and_utc()
    }

    pub fn parse(value: &str) -> Result<Self, chrono::ParseError> {
        let mut last_error = None;
        for format in PARSE_FORMATS {
            match NaiveDateTime::parse_from_str(value, format) {
                Ok(parsed) => return Ok(Self(parsed)),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("at least one format is tried"))
    }
}

impl fmt::Display for IikoDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format(WIRE_FORMAT))
    }
}

impl From<NaiveDateTime> for IikoDateTime {
    fn from(value: NaiveDateTime) -> Self {
        Self(value)
    }
}

impl Serialize for IikoDateTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IikoDateTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&value).map_err(|error| {
            serde::de::Error::custom(format!("invalid iiko date-time {value:?}: {error}"))
        })
    }
}

/// For arrays iiko may send as `null`: `#[serde(default)]` alone covers only a missing key.
pub(crate) fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// iiko's per-organization grouping of dictionary lists ("RmsItemsResponseWrapper").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "T: Deserialize<'de>"))]
pub struct PerOrganization<T> {
    pub organization_id: Uuid,
    #[serde(default = "Vec::new", deserialize_with = "null_as_empty")]
    pub items: Vec<T>,
}

/// The answer of iiko commands: the id to poll `/api/1/commands/status` with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CorrelationIdResponse {
    pub correlation_id: Uuid,
}

/// A key/value pair attached to an organization or order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExternalData {
    pub key: String,
    pub value: String,
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    use super::*;

    fn at(h: u32, m: u32, s: u32, ms: u32) -> IikoDateTime {
        IikoDateTime(
            NaiveDate::from_ymd_opt(2024, 5, 1)
                .unwrap()
                .and_hms_milli_opt(h, m, s, ms)
                .unwrap(),
        )
    }

    #[test]
    fn date_time_serializes_with_milliseconds_and_a_space() {
        let json = serde_json::to_string(&at(18, 30, 0, 0)).unwrap();
        assert_eq!(json, r#""2024-05-01 18:30:00.000""#);
    }

    #[test]
    fn date_time_round_trips() {
        let value = at(18, 30, 5, 123);
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(serde_json::from_str::<IikoDateTime>(&json).unwrap(), value);
    }

    #[test]
    fn date_time_parses_without_milliseconds_and_with_seven_digits() {
        let parse = |s: &str| serde_json::from_str::<IikoDateTime>(s).unwrap();
        assert_eq!(parse(r#""2024-05-01 18:30:00""#), at(18, 30, 0, 0));
        assert_eq!(parse(r#""2024-05-01 18:30:00.1""#), at(18, 30, 0, 100));
        assert_eq!(
            parse(r#""2024-05-01 18:30:00.1234567""#).0,
            at(18, 30, 0, 0).0 + chrono::Duration::nanoseconds(123_456_700)
        );
    }

    #[test]
    fn date_time_rejects_garbage() {
        assert!(serde_json::from_str::<IikoDateTime>(r#""01.05.2024 18:30""#).is_err());
    }

    #[test]
    fn utc_instant_converts_to_branch_local_time() {
        let instant = DateTime::parse_from_rfc3339("2024-05-01T15:30:00Z").unwrap();
        let local = IikoDateTime::local_at(&instant, chrono_tz::Europe::Moscow);
        assert_eq!(local, at(18, 30, 0, 0));
        let offset_instant = DateTime::parse_from_rfc3339("2024-05-01T20:30:00+05:00").unwrap();
        assert_eq!(
            IikoDateTime::local_at(&offset_instant, chrono_tz::Asia::Yekaterinburg),
            at(20, 30, 0, 0)
        );
    }

    #[test]
    fn money_round_trips_exactly_as_json_numbers() {
        for (json, value) in [
            ("33.33", dec!(33.33)),
            ("0.1", dec!(0.1)),
            ("450", dec!(450)),
            ("999.999", dec!(999.999)),
        ] {
            let parsed: Decimal = serde_json::from_str(json).unwrap();
            assert_eq!(parsed, value);
            let written = serde_json::to_string(&parsed).unwrap();
            assert_eq!(serde_json::from_str::<Decimal>(&written).unwrap(), value);
            // A JSON number, never a string, so iiko reads it as a double.
            assert_eq!(
                written.parse::<f64>().unwrap(),
                json.parse::<f64>().unwrap()
            );
        }
    }

    open_enum! {
        enum Colour { Red = "Red", Green = "Green" }
    }

    #[test]
    fn unknown_enum_values_parse_into_unknown_and_serialize_back() {
        let parsed: Vec<Colour> = serde_json::from_str(r#"["Red","Ultraviolet"]"#).unwrap();
        assert_eq!(
            parsed,
            vec![Colour::Red, Colour::Unknown("Ultraviolet".into())]
        );
        assert_eq!(parsed[1].as_str(), "Ultraviolet");
        assert_eq!(
            serde_json::to_string(&parsed).unwrap(),
            r#"["Red","Ultraviolet"]"#
        );
    }
}
