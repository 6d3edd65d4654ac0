use crate::error::Locator;
use crate::{RecipeError, SizeSpec};
use toml::{Spanned, Value};

/// Parses a size such as `"512 MiB"`, `"1GiB"`, `"4096"` or `"2 TiB"` into bytes.
///
/// Units are B, KiB, MiB, GiB and TiB (powers of 1024); a bare number is bytes. Decimal
/// units (MB, GB) are refused, not guessed at.
///
/// ```
/// assert_eq!(ingot_recipe::parse_size("64 MiB"), Ok(64 << 20));
/// assert!(ingot_recipe::parse_size("64 MB").unwrap_err().contains("MiB"));
/// ```
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if digits == 0 {
        return Err(format!("{text:?} is not a size: expected a number and a unit, like \"512 MiB\""));
    }
    let number: u64 = t[..digits].parse().map_err(|_| format!("{text:?}: number too large"))?;
    let unit = t[digits..].trim();
    let shift = match unit {
        "" | "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        "TiB" => 40,
        _ => {
            return Err(format!("{text:?} has an unknown unit {unit:?}: use B, KiB, MiB, GiB or TiB (powers of 1024)"))
        }
    };
    number.checked_mul(1u64 << shift).ok_or_else(|| format!("{text:?} is too large (over 16 EiB)"))
}

/// Bytes in the largest binary unit that leaves at least 1, to two decimals at most:
/// `"64 MiB"`, `"1.5 GiB"`, `"512 bytes"`.
///
/// ```
/// assert_eq!(ingot_recipe::format_size(64 << 20), "64 MiB");
/// assert_eq!(ingot_recipe::format_size(3 << 29), "1.5 GiB");
/// assert_eq!(ingot_recipe::format_size(512), "512 bytes");
/// ```
pub fn format_size(n: u64) -> String {
    let units = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (u, s) in units {
        if n >= 1 << s {
            let v = format!("{:.2}", n as f64 / (1u64 << s) as f64);
            return format!("{} {u}", v.trim_end_matches('0').trim_end_matches('.'));
        }
    }
    format!("{n} bytes")
}

/// A size value of the recipe at `key`: bytes, a size text, `"auto"`, and `"fill"`
/// where `flexible`.
pub(crate) fn size_value(
    loc: &Locator,
    key: &str,
    v: &Spanned<Value>,
    flexible: bool,
) -> Result<SizeSpec, RecipeError> {
    let at = v.span().start;
    match v.get_ref() {
        Value::Integer(n) if *n >= 0 => Ok(SizeSpec::Bytes(*n as u64)),
        Value::String(s) if s == "auto" => Ok(SizeSpec::Auto),
        Value::String(s) if s == "fill" && flexible => Ok(SizeSpec::Fill),
        Value::String(s) => parse_size(s).map(SizeSpec::Bytes).map_err(|e| loc.at(at, format!("{key}: {e}"))),
        _ => Err(loc.at(
            at,
            format!(
                "{key}: expected a size like \"512 MiB\"{}",
                if flexible { ", \"fill\" or \"auto\"" } else { " or \"auto\"" }
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn units() {
        assert_eq!(parse_size("1"), Ok(1));
        assert_eq!(parse_size("1 B"), Ok(1));
        assert_eq!(parse_size("3KiB"), Ok(3072));
        assert_eq!(parse_size(" 2 GiB "), Ok(2 << 30));
        assert_eq!(parse_size("1 TiB"), Ok(1 << 40));
        assert!(parse_size("1.5 GiB").is_err());
        assert!(parse_size("GiB").is_err());
        assert!(parse_size("1 gb").is_err());
        assert!(parse_size("99999999999 TiB").is_err());
    }
}
