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
