//! `NAME.manifest.xml`, version 2007-10-10: written on one line exactly as the AMI tools
//! write it, and read back tolerantly (by element) for `unbundle`.

use crate::BundleError;

/// Everything a manifest says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// `bundler/name`, `bundler/version`, `bundler/release`.
    pub bundler: (String, String, String),
    /// `machine_configuration/architecture`.
    pub architecture: String,
    /// `block_device_mapping`: (virtual, device), sorted by virtual name when written.
    pub mappings: Vec<(String, String)>,
    /// `kernel_id`.
    pub kernel_id: Option<String>,
    /// `ramdisk_id`.
    pub ramdisk_id: Option<String>,
    /// `product_codes/product_code`.
    pub product_codes: Vec<String>,
    /// `image/name`.
    pub name: String,
    /// `image/user`: the 12-digit account id.
    pub user: String,
    /// `image/digest`: SHA-1 of the tar stream, lowercase hex.
    pub digest: String,
    /// `image/size`: the image's apparent size.
    pub size: u64,
    /// `image/bundled_size`: the sum of the parts' sizes.
    pub bundled_size: u64,
    /// `ec2_encrypted_key`, `user_encrypted_key`, `ec2_encrypted_iv`, `user_encrypted_iv`.
    pub ec2_key: String,
    /// See `ec2_key`.
    pub user_key: String,
    /// See `ec2_key`.
    pub ec2_iv: String,
    /// See `ec2_key`.
    pub user_iv: String,
    /// `parts`: (filename, SHA-1 hex) in index order.
    pub parts: Vec<(String, String)>,
    /// `signature`, lowercase hex.
    pub signature: String,
}

/// Escapes the five XML entities.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

fn el(out: &mut String, name: &str, text: &str) {
    out.push_str(&format!("<{name}>{}</{name}>", escape(text)));
}

impl Manifest {
    /// `<machine_configuration>…</machine_configuration>`.
    pub fn machine_configuration(&self) -> String {
        let mut s = String::from("<machine_configuration>");
        el(&mut s, "architecture", &self.architecture);
        if !self.mappings.is_empty() {
            let mut m = self.mappings.clone();
            m.sort();
            s.push_str("<block_device_mapping>");
            for (virt, dev) in &m {
                s.push_str("<mapping>");
                el(&mut s, "virtual", virt);
                el(&mut s, "device", dev);
                s.push_str("</mapping>");
            }
            s.push_str("</block_device_mapping>");
        }
        if let Some(k) = &self.kernel_id {
            el(&mut s, "kernel_id", k);
        }
        if let Some(r) = &self.ramdisk_id {
            el(&mut s, "ramdisk_id", r);
        }
        if !self.product_codes.is_empty() {
            s.push_str("<product_codes>");
            for p in &self.product_codes {
                el(&mut s, "product_code", p);
            }
            s.push_str("</product_codes>");
        }
        s.push_str("</machine_configuration>");
        s
    }

    /// `<image>…</image>`.
    pub fn image(&self) -> String {
        let mut s = String::from("<image>");
        el(&mut s, "name", &self.name);
        el(&mut s, "user", &self.user);
        el(&mut s, "type", "machine");
        s.push_str(&format!("<digest algorithm='SHA1'>{}</digest>", escape(&self.digest)));
        el(&mut s, "size", &self.size.to_string());
        el(&mut s, "bundled_size", &self.bundled_size.to_string());
        s.push_str(&format!("<ec2_encrypted_key algorithm='AES-128-CBC'>{}</ec2_encrypted_key>", self.ec2_key));
        s.push_str(&format!("<user_encrypted_key algorithm='AES-128-CBC'>{}</user_encrypted_key>", self.user_key));
        el(&mut s, "ec2_encrypted_iv", &self.ec2_iv);
        el(&mut s, "user_encrypted_iv", &self.user_iv);
        s.push_str(&format!("<parts count='{}'>", self.parts.len()));
        for (i, (file, digest)) in self.parts.iter().enumerate() {
            s.push_str(&format!("<part index='{i}'>"));
            el(&mut s, "filename", file);
            s.push_str(&format!("<digest algorithm='SHA1'>{}</digest>", escape(digest)));
            s.push_str("</part>");
        }
        s.push_str("</parts></image>");
        s
    }

    /// The bytes the signature covers: machine_configuration then image, as written.
    pub fn signed_bytes(&self) -> String {
        self.machine_configuration() + &self.image()
    }

    /// The whole manifest: one line, no trailing newline.
    pub fn to_xml(&self) -> String {
        let mut s = String::from("<?xml version='1.0'?><manifest>");
        el(&mut s, "version", "2007-10-10");
        s.push_str("<bundler>");
        el(&mut s, "name", &self.bundler.0);
        el(&mut s, "version", &self.bundler.1);
        el(&mut s, "release", &self.bundler.2);
        s.push_str("</bundler>");
        s.push_str(&self.signed_bytes());
        el(&mut s, "signature", &self.signature);
        s.push_str("</manifest>");
        s
    }

    /// Reads a manifest; returns it and the exact bytes its signature covers. One pass
    /// over at most [`MANIFEST_MAX_BYTES`] bytes and [`PARTS_MAX`] parts: every element is
    /// found by a forward scan, and a malformed one is an error, never a panic.
    pub fn parse(xml: &str) -> Result<(Manifest, String), BundleError> {
        if xml.len() > MANIFEST_MAX_BYTES {
            return Err(BundleError::Manifest(format!(
                "the manifest is {} bytes: a bundle of at most {PARTS_MAX} parts needs under {MANIFEST_MAX_BYTES}",
                xml.len()
            )));
        }
        let mc = section(xml, "machine_configuration")?;
        let image = section(xml, "image")?;
        let signed = format!("{mc}{image}");
        let version = text(xml, "version")?;
        if version != "2007-10-10" {
            return Err(BundleError::Manifest(format!("manifest version {version:?}: only 2007-10-10 is read")));
        }
        let mut m = Manifest {
            architecture: text(mc, "architecture")?,
            kernel_id: text(mc, "kernel_id").ok(),
            ramdisk_id: text(mc, "ramdisk_id").ok(),
            name: text(image, "name")?,
            user: text(image, "user")?,
            digest: text(image, "digest")?,
            size: number(image, "size")?,
            bundled_size: number(image, "bundled_size")?,
            ec2_key: text(image, "ec2_encrypted_key")?,
            user_key: text(image, "user_encrypted_key")?,
            ec2_iv: text(image, "ec2_encrypted_iv")?,
            user_iv: text(image, "user_encrypted_iv")?,
            signature: text(xml, "signature")?,
            ..Manifest::default()
        };
        let mut rest = section(image, "parts")?;
        while let Some((start, part)) = find_section(rest, "part")? {
            if m.parts.len() == PARTS_MAX {
                return Err(BundleError::Manifest(format!("more than {PARTS_MAX} <part> elements")));
            }
            m.parts.push((text(part, "filename")?, text(part, "digest")?));
            rest = &rest[start + part.len()..];
        }
        Ok((m, signed))
    }
}

/// The most parts a manifest may list: an instance-store image is at most 10 GiB
/// ([`crate::SIZE_LIMIT`]) in parts of 10 MiB, 1,024 of them, twice that for what gzip and
/// padding may add to data that does not compress.
pub const PARTS_MAX: usize = 2048;
/// The largest manifest read: [`PARTS_MAX`] parts of a few hundred bytes each, with room.
pub const MANIFEST_MAX_BYTES: usize = 1 << 20;

/// `<name …>…</name>` including the tags, first occurrence.
fn section<'a>(xml: &'a str, name: &str) -> Result<&'a str, BundleError> {
    let missing = || BundleError::Manifest(format!("no <{name}> element"));
    Ok(find_section(xml, name)?.ok_or_else(missing)?.1)
}

/// The first `<name>` or `<name …>` element of `xml` and where it starts, tags included;
/// none when there is none; an error when it is not closed. Scans forward once.
fn find_section<'a>(xml: &'a str, name: &str) -> Result<Option<(usize, &'a str)>, BundleError> {
    let open = format!("<{name}");
    let Some(start) = xml
        .match_indices(&open)
        .map(|(i, _)| i)
        .find(|&i| matches!(xml.as_bytes().get(i + open.len()), Some(b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'/')))
    else {
        return Ok(None);
    };
    let close = format!("</{name}>");
    let unclosed = || BundleError::Manifest(format!("<{name}> is not closed"));
    let end = xml[start..].find(&close).ok_or_else(unclosed)? + start + close.len();
    Ok(Some((start, &xml[start..end])))
}

/// The text inside the first `<name>` element.
fn text(xml: &str, name: &str) -> Result<String, BundleError> {
    let s = section(xml, name)?;
    let malformed = || BundleError::Manifest(format!("<{name}> is malformed"));
    let inner_start = s.find('>').ok_or_else(malformed)? + 1;
    let inner_end = s.len() - name.len() - 3;
    Ok(unescape(s.get(inner_start..inner_end).ok_or_else(malformed)?.trim()))
}

fn number(xml: &str, name: &str) -> Result<u64, BundleError> {
    let t = text(xml, name)?;
    t.parse().map_err(|_| BundleError::Manifest(format!("<{name}> {t:?} is not a number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_and_oversized_manifests_are_errors() {
        let bad =
            "<manifest><machine_configuration></machine_configuration><image></image><version </version></manifest>";
        assert!(Manifest::parse(bad).unwrap_err().to_string().contains("<version> is malformed"));
        let many = format!(
            "<manifest><version>2007-10-10</version><machine_configuration><architecture>x86_64</architecture></machine_configuration><image><name>a</name><user>1</user><digest>d</digest><size>1</size><bundled_size>1</bundled_size><ec2_encrypted_key>k</ec2_encrypted_key><user_encrypted_key>k</user_encrypted_key><ec2_encrypted_iv>i</ec2_encrypted_iv><user_encrypted_iv>i</user_encrypted_iv><parts>{}</parts></image><signature>s</signature></manifest>",
            "<part index='0'><filename>f</filename><digest>d</digest></part>".repeat(PARTS_MAX + 1)
        );
        assert!(Manifest::parse(&many).unwrap_err().to_string().contains("more than 2048 <part>"));
        let big = "x".repeat(MANIFEST_MAX_BYTES + 1);
        assert!(Manifest::parse(&big).unwrap_err().to_string().contains("bytes"));
    }

    #[test]
    fn written_manifests_read_back_and_sign_what_they_show() {
        let m = Manifest {
            bundler: ("ingot".into(), "0.1.0".into(), "0".into()),
            architecture: "x86_64".into(),
            mappings: vec![("root".into(), "/dev/sda1".into()), ("ami".into(), "sda1".into())],
            kernel_id: Some("aki-1".into()),
            product_codes: vec!["a&b".into()],
            name: "disk.raw".into(),
            user: "123456789012".into(),
            digest: "ab".into(),
            size: 5,
            bundled_size: 32,
            ec2_key: "01".into(),
            user_key: "02".into(),
            ec2_iv: "03".into(),
            user_iv: "04".into(),
            parts: vec![("disk.raw.part.0".into(), "aa".into()), ("disk.raw.part.1".into(), "bb".into())],
            signature: "ff".into(),
            ..Manifest::default()
        };
        let xml = m.to_xml();
        assert!(xml.contains("<block_device_mapping><mapping><virtual>ami</virtual><device>sda1</device></mapping><mapping><virtual>root</virtual>"));
        assert!(xml.contains("<product_codes><product_code>a&amp;b</product_code></product_codes>"));
        assert!(xml.contains("<parts count='2'><part index='0'><filename>disk.raw.part.0</filename><digest algorithm='SHA1'>aa</digest></part>"));
        let (back, signed) = Manifest::parse(&xml).unwrap();
        assert_eq!(signed, m.signed_bytes());
        assert_eq!(back.parts, m.parts);
        assert_eq!((back.size, back.bundled_size, back.kernel_id.as_deref()), (5, 32, Some("aki-1")));
        assert_eq!(back.signature, "ff");
    }
}
