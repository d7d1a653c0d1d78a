//! Go's `strconv.AppendFloat` for 64-bit floats, as `fmt` calls it: the formats `e E f g G x X
//! b`, shortest (`prec` < 0) or with a precision. The sign of zero is kept (`-0`), as in Go.
//!
//! Decimal digits come from Rust's own float formatting, which is exact and rounds a tie to
//! even, as Go's does; this file only lays the digits out the way Go does.

/// `0.d1d2d3… × 10^dp`, without leading or trailing zeros; zero has no digits and `dp` 0.
struct Decimal {
    digits: Vec<u8>,
    dp: i32,
}

impl Decimal {
    /// Reads Rust's `{:e}` text (`1.2345e6`) or plain text (`123.456`) of a non-negative value.
    fn parse(text: &str) -> Decimal {
        let (mantissa, exp) = match text.split_once('e') {
            Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
            None => (text, 0),
        };
        let int_len = mantissa.find('.').unwrap_or(mantissa.len());
        let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
        let mut dp = i32::try_from(int_len).unwrap_or(i32::MAX) + exp;
        let leading = digits.iter().take_while(|&&d| d == b'0').count();
        digits.drain(..leading);
        dp -= i32::try_from(leading).unwrap_or(0);
        while digits.last() == Some(&b'0') {
            digits.pop();
        }
        if digits.is_empty() {
            dp = 0;
        }
        Decimal { digits, dp }
    }

    /// The shortest digits that read back as `v`.
    fn shortest(v: f64) -> Decimal {
        Decimal::parse(&format!("{:e}", v.abs()))
    }

    /// `v` rounded to `n` (≥ 1) significant digits.
    fn significant(v: f64, n: usize) -> Decimal {
        Decimal::parse(&format!("{:.*e}", n - 1, v.abs()))
    }

    /// `v` rounded to `prec` digits after the point.
    fn fixed(v: f64, prec: usize) -> Decimal {
        Decimal::parse(&format!("{:.*}", prec, v.abs()))
    }

    fn len(&self) -> i32 {
        i32::try_from(self.digits.len()).unwrap_or(i32::MAX)
    }

    fn digit(&self, i: i32) -> u8 {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.digits.get(i).copied())
            .unwrap_or(b'0')
    }
}

/// Go's `strconv.FormatFloat(v, fmt, prec, 64)`.
pub(super) fn format(v: f64, fmt: u8, prec: i32) -> String {
    let mut out = String::new();
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if fmt == b'b' || fmt == b'x' || fmt == b'X' {
        return binary(v, fmt, prec);
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    let shortest = prec < 0;
    let (d, prec) = match fmt {
        b'e' | b'E' if shortest => {
            let d = Decimal::shortest(v);
            let p = (d.len() - 1).max(0);
            (d, p)
        }
        b'e' | b'E' => (Decimal::significant(v, to_usize(prec) + 1), prec),
        b'f' if shortest => {
            let d = Decimal::shortest(v);
            let p = (d.len() - d.dp).max(0);
            (d, p)
        }
        b'f' => (Decimal::fixed(v, to_usize(prec)), prec),
        _ if shortest => {
            let d = Decimal::shortest(v);
            let p = d.len();
            (d, p)
        }
        _ => {
            let prec = prec.max(1);
            (Decimal::significant(v, to_usize(prec)), prec)
        }
    };
    match fmt {
        b'e' | b'E' => fmt_e(&mut out, &d, prec, char::from(fmt)),
        b'f' => fmt_f(&mut out, &d, prec),
        _ => {
            let mut eprec = prec;
            if eprec > d.len() && d.len() >= d.dp {
                eprec = d.len();
            }
            // %e is used if the exponent from the conversion is less than -4 or greater than
            // or equal to the precision; for the shortest form, 6 decides.
            if shortest {
                eprec = 6;
            }
            let exp = d.dp - 1;
            let e = if fmt == b'G' { 'E' } else { 'e' };
            if exp < -4 || exp >= eprec {
                fmt_e(&mut out, &d, prec.min(d.len()) - 1, e);
            } else {
                let prec = if prec > d.dp { d.len() } else { prec };
                fmt_f(&mut out, &d, (prec - d.dp).max(0));
            }
        }
    }
    out
}

fn to_usize(n: i32) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// `d.ddddde±dd`
fn fmt_e(out: &mut String, d: &Decimal, prec: i32, e: char) {
    out.push(char::from(d.digit(0)));
    if prec > 0 {
        out.push('.');
        (1..=prec).for_each(|i| out.push(char::from(d.digit(i))));
    }
    out.push(e);
    let exp = if d.digits.is_empty() { 0 } else { d.dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let exp = exp.unsigned_abs();
    if exp < 10 {
        out.push('0');
    }
    out.push_str(&exp.to_string());
}

/// `ddddd.ddddd`
fn fmt_f(out: &mut String, d: &Decimal, prec: i32) {
    if d.dp > 0 {
        (0..d.dp).for_each(|i| out.push(char::from(d.digit(i))));
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        (1..=prec).for_each(|i| out.push(char::from(d.digit(d.dp + i - 1))));
    }
}

/// The formats on the binary representation: `%b` (`4503599627370496p-52`) and `%x`/`%X`
/// (`0x1.8p+01`).
fn binary(v: f64, fmt: u8, prec: i32) -> String {
    let bits = v.to_bits();
    let neg = bits >> 63 != 0;
    let mut exp = i32::try_from((bits >> 52) & 0x7ff).unwrap_or(0);
    let mut mant = bits & ((1 << 52) - 1);
    if exp == 0 {
        exp += 1;
    } else {
        mant |= 1 << 52;
    }
    exp -= 1023;
    let mut out = String::from(if neg { "-" } else { "" });
    if fmt == b'b' {
        let exp = exp - 52;
        out.push_str(&format!("{mant}p{}{exp}", if exp >= 0 { "+" } else { "" }));
        return out;
    }
    if mant == 0 {
        exp = 0;
    }
    // Shift so that the leading 1 (if any) is at bit 60.
    mant <<= 60 - 52;
    while mant != 0 && mant & (1 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if (0..15).contains(&prec) {
        let shift = to_usize(prec) * 4;
        let extra = (mant << shift) & ((1 << 60) - 1);
        mant >>= 60 - shift;
        if extra | (mant & 1) > 1 << 59 {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1 << 61) != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let hex: &[u8] = if fmt == b'X' {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    out.push('0');
    out.push(char::from(fmt));
    out.push(if (mant >> 60) & 1 == 1 { '1' } else { '0' });
    mant <<= 4;
    let digits = match prec {
        p if p < 0 && mant != 0 => 16,
        p if p > 0 => to_usize(p),
        _ => 0,
    };
    if digits > 0 {
        out.push('.');
    }
    for _ in 0..digits {
        if prec < 0 && mant == 0 {
            break;
        }
        out.push(char::from(
            hex[usize::try_from((mant >> 60) & 15).unwrap_or(0)],
        ));
        mant <<= 4;
    }
    out.push(if fmt == b'X' { 'P' } else { 'p' });
    out.push(if exp < 0 { '-' } else { '+' });
    let exp = exp.unsigned_abs();
    if exp < 10 {
        out.push('0');
    }
    out.push_str(&exp.to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn formats_like_strconv() {
        let cases: &[(f64, u8, i32, &str)] = &[
            (1e6, b'g', -1, "1e+06"),
            (100000.0, b'g', -1, "100000"),
            (1e21, b'g', -1, "1e+21"),
            (0.0001, b'g', -1, "0.0001"),
            (0.00001, b'g', -1, "1e-05"),
            (-0.0, b'g', -1, "-0"),
            (3.25159, b'f', 1, "3.3"),
            (0.125, b'f', 2, "0.12"),
            (2.5, b'f', 0, "2"),
            (1e6, b'e', 6, "1.000000e+06"),
            (1234.5678, b'g', 3, "1.23e+03"),
            (1.0, b'g', 3, "1"),
            (123.0, b'E', -1, "1.23E+02"),
            (1e-300, b'e', 2, "1.00e-300"),
            (0.0, b'e', 2, "0.00e+00"),
            (1.0, b'b', -1, "4503599627370496p-52"),
            (1.0, b'x', -1, "0x1p+00"),
            (3.0, b'x', -1, "0x1.8p+01"),
            (-0.1, b'X', 3, "-0X1.99AP-04"),
            (0.0, b'x', -1, "0x0p+00"),
            (f64::NAN, b'g', -1, "NaN"),
            (f64::NEG_INFINITY, b'f', 2, "-Inf"),
        ];
        for &(v, fmt, prec, want) in cases {
            assert_eq!(format(v, fmt, prec), want, "{v} {} {prec}", char::from(fmt));
        }
    }
}
