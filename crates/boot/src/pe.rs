//! PE/COFF, as much as a unified kernel image needs: the headers of systemd's stub read,
//! sections appended, the checksum recomputed.
//!
//! Follows the Microsoft "PE Format" specification: "MS-DOS Stub (Image Only)" (the
//! offset of the PE signature at 0x3C), "COFF File Header (Object and Image)", "Optional
//! Header Windows-Specific Fields (Image Only)" (`SectionAlignment`, `FileAlignment`,
//! `SizeOfImage`, `SizeOfHeaders`, `CheckSum`), "Optional Header Data Directories" (the
//! certificate table), "Section Table (Section Headers)" and "COFF Symbol Table" (dropped:
//! deprecated for images). Fields are named as the specification names them. The checksum
//! is the one `CheckSumMappedFile` computes.

/// `Machine` of an x86_64 image (`IMAGE_FILE_MACHINE_AMD64`).
pub const IMAGE_FILE_MACHINE_AMD64: u16 = 0x8664;
/// `Machine` of an arm64 image (`IMAGE_FILE_MACHINE_ARM64`).
pub const IMAGE_FILE_MACHINE_ARM64: u16 = 0xaa64;

/// `Characteristics` of an added section: initialized data, readable
/// (`IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ`), as ukify writes them.
const ADDED_SECTION_CHARACTERISTICS: u32 = 0x0000_0040 | 0x4000_0000;
/// Bytes of one section header.
const SECTION_HEADER_SIZE: usize = 40;
/// Index of the certificate table among the data directories.
const CERTIFICATE_TABLE: usize = 4;

/// A PE image being extended.
#[derive(Debug)]
pub struct PeImage {
    bytes: Vec<u8>,
    /// Offset of the COFF file header (after `PE\0\0`).
    coff: usize,
    /// Offset of the optional header.
    optional: usize,
}

/// Why a file cannot be extended.
#[derive(Debug, PartialEq, Eq)]
pub enum PeError {
    /// Not a PE image (no `MZ`, no `PE\0\0`, or headers cut short).
    NotPe,
    /// Signed: appending sections would invalidate the signature.
    Signed,
    /// No room in the headers for another section header.
    NoRoom,
    /// The data directories end before the certificate table's entry.
    NoCertificateEntry,
    /// A certificate table that is not at the end of the file.
    MisplacedCertificates,
}

impl std::fmt::Display for PeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PeError::NotPe => "not a PE/COFF image",
            PeError::Signed => "it is signed (a certificate table is present): adding sections would break the signature; use the unsigned stub",
            PeError::NoRoom => "its headers have no room for another section header",
            PeError::MisplacedCertificates => "its certificate table is not at the end of the file",
            PeError::NoCertificateEntry => "its optional header has no certificate table entry to point at a signature",
        })
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// The `Machine` field of a PE image, if `bytes` is one.
pub fn machine(bytes: &[u8]) -> Option<u16> {
    let pe = u32_at(bytes, 0x3c)? as usize;
    (bytes.get(..2)? == b"MZ" && bytes.get(pe..pe + 4)? == b"PE\0\0").then_some(())?;
    u16_at(bytes, pe + 4)
}

/// The data of the section named `name` (at most 8 bytes, as the section table holds
/// it) in the PE image `bytes`: `VirtualSize` bytes from `PointerToRawData`, or its
/// `SizeOfRawData` when that is less (the rest is zeros in memory); `None` when there
/// is no such section or it lies outside the file.
pub fn section<'a>(bytes: &'a [u8], name: &str) -> Option<&'a [u8]> {
    section_with_size(bytes, name).map(|(data, _)| data)
}

/// [`section`] and the section's `VirtualSize`: loaded, its data is followed by zeros up
/// to that size.
pub fn section_with_size<'a>(bytes: &'a [u8], name: &str) -> Option<(&'a [u8], usize)> {
    let optional = optional_header(bytes).ok()?;
    let coff = optional - 20;
    let size_of_optional_header = u16_at(bytes, coff + 16)? as usize;
    let n = u16_at(bytes, coff + 2)? as usize;
    let table = optional + size_of_optional_header;
    (0..n).map(|i| table + i * SECTION_HEADER_SIZE).find_map(|h| {
        let field = bytes.get(h..h + 8)?;
        let len = field.iter().position(|&b| b == 0).unwrap_or(8);
        (&field[..len] == name.as_bytes()).then_some(())?;
        let (virtual_size, raw_size) = (u32_at(bytes, h + 8)? as usize, u32_at(bytes, h + 16)? as usize);
        let at = u32_at(bytes, h + 20)? as usize;
        Some((bytes.get(at..at.checked_add(virtual_size.min(raw_size))?)?, virtual_size))
    })
}

/// The offset of the data directories and `NumberOfRvaAndSizes`: they follow the
/// optional header's fixed fields, 96 bytes of them in PE32 (magic 0x10b), 112 in PE32+
/// (0x20b).
fn directories(bytes: &[u8], optional: usize) -> Result<(usize, usize), PeError> {
    let (at, count) = match u16_at(bytes, optional).ok_or(PeError::NotPe)? {
        0x10b => (optional + 96, optional + 92),
        0x20b => (optional + 112, optional + 108),
        _ => return Err(PeError::NotPe),
    };
    Ok((at, u32_at(bytes, count).ok_or(PeError::NotPe)? as usize))
}

/// The offset of the optional header.
fn optional_header(bytes: &[u8]) -> Result<usize, PeError> {
    machine(bytes).ok_or(PeError::NotPe)?;
    Ok(u32_at(bytes, 0x3c).ok_or(PeError::NotPe)? as usize + 4 + 20)
}

/// Where the parts of an image lie that the Authenticode image hash skips or walks.
#[derive(Debug, PartialEq, Eq)]
pub struct Layout {
    /// The offset of `CheckSum`.
    pub checksum: usize,
    /// The offset of the certificate table's data directory entry.
    pub certificate_entry: usize,
    /// `SizeOfHeaders`.
    pub size_of_headers: usize,
    /// Every section with raw data: (`PointerToRawData`, `SizeOfRawData`), in file order.
    pub sections: Vec<(usize, usize)>,
    /// The size of the attribute certificate table at the file's end (0 if unsigned).
    pub certificate_table_size: usize,
}

impl Layout {
    /// Reads the layout of `bytes`, checking that every part lies inside the file.
    pub fn read(bytes: &[u8]) -> Result<Layout, PeError> {
        let optional = optional_header(bytes)?;
        let (directories, count) = directories(bytes, optional)?;
        if count <= CERTIFICATE_TABLE {
            return Err(PeError::NoCertificateEntry);
        }
        let certificate_entry = directories + CERTIFICATE_TABLE * 8;
        let size_of_headers = u32_at(bytes, optional + 60).ok_or(PeError::NotPe)? as usize;
        let table_size = u32_at(bytes, certificate_entry + 4).ok_or(PeError::NotPe)? as usize;
        if size_of_headers > bytes.len() || certificate_entry + 8 > size_of_headers || table_size > bytes.len() {
            return Err(PeError::NotPe);
        }
        let coff = optional - 20;
        let table = {
            let size_of_optional_header = u16_at(bytes, coff + 16).ok_or(PeError::NotPe)? as usize;
            let n = u16_at(bytes, coff + 2).ok_or(PeError::NotPe)? as usize;
            optional + size_of_optional_header..optional + size_of_optional_header + n * SECTION_HEADER_SIZE
        };
        let mut sections = Vec::new();
        for h in table.step_by(SECTION_HEADER_SIZE) {
            let size = u32_at(bytes, h + 16).ok_or(PeError::NotPe)? as usize;
            let at = u32_at(bytes, h + 20).ok_or(PeError::NotPe)? as usize;
            if size > 0 {
                (at.checked_add(size).is_some_and(|end| end <= bytes.len())).then_some(()).ok_or(PeError::NotPe)?;
                sections.push((at, size));
            }
        }
        sections.sort_unstable();
        Ok(Layout {
            checksum: optional + 64,
            certificate_entry,
            size_of_headers,
            sections,
            certificate_table_size: table_size,
        })
    }
}

/// `bytes` without its attribute certificate table, when it has one at the end of the
/// file (where signing tools put it): the table cut off, the directory entry zeroed.
pub fn without_signature(mut bytes: Vec<u8>) -> Result<Vec<u8>, PeError> {
    let layout = Layout::read(&bytes)?;
    let at = u32_at(&bytes, layout.certificate_entry).ok_or(PeError::NotPe)? as usize;
    if layout.certificate_table_size == 0 {
        return Ok(bytes);
    }
    if at + layout.certificate_table_size != bytes.len() || at < layout.size_of_headers {
        return Err(PeError::MisplacedCertificates);
    }
    bytes.truncate(at);
    put_u32(&mut bytes, layout.certificate_entry, 0);
    put_u32(&mut bytes, layout.certificate_entry + 4, 0);
    Ok(bytes)
}

/// Points the certificate table's directory entry at `size` bytes at file offset `at` and
/// recomputes `CheckSum`.
pub fn set_certificate_table(bytes: &mut [u8], at: u32, size: u32) -> Result<(), PeError> {
    let layout = Layout::read(bytes)?;
    put_u32(bytes, layout.certificate_entry, at);
    put_u32(bytes, layout.certificate_entry + 4, size);
    put_u32(bytes, layout.checksum, 0);
    let sum = checksum(bytes);
    put_u32(bytes, layout.checksum, sum);
    Ok(())
}

impl PeImage {
    /// Reads the headers of `bytes`.
    pub fn parse(bytes: Vec<u8>) -> Result<PeImage, PeError> {
        let layout = Layout::read(&bytes)?;
        if layout.certificate_table_size != 0 {
            return Err(PeError::Signed);
        }
        let optional = layout.checksum - 64;
        Ok(PeImage { bytes, coff: optional - 20, optional })
    }

    /// Drops the bytes after the headers and the last section's raw data, which no
    /// section header describes: a COFF symbol table (a stub linked from ELF keeps one;
    /// the specification says `PointerToSymbolTable` "should be zero for an image because
    /// COFF debugging information is deprecated"), or text that `objcopy -O binary` left
    /// there (Debian's arm64 systemd-stub, laid out by gnu-efi, keeps its `.sbat` text
    /// after `.data`). No loader maps such bytes, and an Authenticode signature would not
    /// cover them once a section follows (the image hash skips gaps between sections), so
    /// a signed UKI could carry bytes its signature does not vouch for. Sections added
    /// next go where they were.
    pub fn drop_trailing_bytes(&mut self) -> Result<(), PeError> {
        let layout = Layout::read(&self.bytes)?;
        let end = layout.sections.iter().map(|&(at, size)| at + size).max().unwrap_or(0).max(layout.size_of_headers);
        let pointer = u32_at(&self.bytes, self.coff + 8).unwrap_or(0) as usize;
        if pointer != 0 && pointer >= end {
            put_u32(&mut self.bytes, self.coff + 8, 0);
            put_u32(&mut self.bytes, self.coff + 12, 0);
        }
        self.bytes.truncate(end);
        Ok(())
    }

    /// `NumberOfSections`.
    fn number_of_sections(&self) -> usize {
        u16_at(&self.bytes, self.coff + 2).unwrap_or(0) as usize
    }

    /// The offset of the section table and its end (checked to be inside the file).
    fn section_table(&self) -> Option<(usize, usize)> {
        let size_of_optional_header = u16_at(&self.bytes, self.coff + 16)? as usize;
        let start = self.optional + size_of_optional_header;
        let end = start + self.number_of_sections() * SECTION_HEADER_SIZE;
        (end <= self.bytes.len()).then_some((start, end))
    }

    fn optional_u32(&self, offset: usize) -> u32 {
        u32_at(&self.bytes, self.optional + offset).unwrap_or(0)
    }

    /// The end of the last section in memory (`VirtualAddress + VirtualSize`).
    fn memory_end(&self) -> u64 {
        let (start, end) = self.section_table().unwrap_or((0, 0));
        (start..end).step_by(SECTION_HEADER_SIZE).fold(0, |mem, h| {
            let field = |at| u64::from(u32_at(&self.bytes, h + at).unwrap_or(0));
            mem.max(field(12) + field(8))
        })
    }

    /// Appends a section named `name` (at most 8 bytes) holding `data`: its raw data at the
    /// file's end (see [`PeImage::drop_trailing_bytes`]) on a `FileAlignment` boundary, its address after the last section's on a
    /// `SectionAlignment` boundary; `NumberOfSections` and `SizeOfImage` follow.
    pub fn add_section(&mut self, name: &str, data: &[u8]) -> Result<(), PeError> {
        let (section_alignment, file_alignment) = (u64::from(self.optional_u32(32)), u64::from(self.optional_u32(36)));
        let (_, table_end) = self.section_table().ok_or(PeError::NotPe)?;
        if table_end + SECTION_HEADER_SIZE > self.optional_u32(60) as usize {
            return Err(PeError::NoRoom);
        }
        let mem_end = self.memory_end();
        let raw_at = (self.bytes.len() as u64).next_multiple_of(file_alignment.max(1));
        let raw_size = (data.len() as u64).next_multiple_of(file_alignment.max(1));
        let address = mem_end.next_multiple_of(section_alignment.max(1));
        let mut header = [0u8; SECTION_HEADER_SIZE];
        let n = name.len().min(8);
        header[..n].copy_from_slice(&name.as_bytes()[..n]);
        put_u32(&mut header, 8, data.len() as u32);
        put_u32(&mut header, 12, address as u32);
        put_u32(&mut header, 16, raw_size as u32);
        put_u32(&mut header, 20, raw_at as u32);
        put_u32(&mut header, 36, ADDED_SECTION_CHARACTERISTICS);
        self.bytes[table_end..table_end + SECTION_HEADER_SIZE].copy_from_slice(&header);
        let sections = self.number_of_sections() as u16 + 1;
        put_u16(&mut self.bytes, self.coff + 2, sections);
        self.bytes.resize(raw_at as usize, 0);
        self.bytes.extend_from_slice(data);
        self.bytes.resize((raw_at + raw_size) as usize, 0);
        let size_of_image = (address + data.len() as u64).next_multiple_of(section_alignment.max(1));
        put_u32(&mut self.bytes, self.optional + 56, size_of_image as u32);
        Ok(())
    }

    /// The image with its `CheckSum` recomputed.
    pub fn finish(mut self) -> Vec<u8> {
        let field = self.optional + 64;
        put_u32(&mut self.bytes, field, 0);
        let sum = checksum(&self.bytes);
        put_u32(&mut self.bytes, field, sum);
        self.bytes
    }
}

/// The PE image checksum (as `CheckSumMappedFile` computes it): the 16-bit words of the
/// file, the checksum field zeroed, added with end-around carry, plus the file's length.
pub fn checksum(data: &[u8]) -> u32 {
    let mut sum: u64 = 0;
    for chunk in data.chunks(2) {
        let word = u64::from(chunk[0]) | chunk.get(1).map_or(0, |&b| u64::from(b) << 8);
        sum += word;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum = (sum & 0xffff) + (sum >> 16);
    (sum as u32).wrapping_add(data.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PE32+ image as a linker lays it out: headers of 0x400 bytes, one `.text` section
    /// of 0x100 bytes at address 0x1000, raw data at 0x400; FileAlignment 0x200,
    /// SectionAlignment 0x1000.
    fn image() -> Vec<u8> {
        let mut b = vec![0u8; 0x600];
        b[..2].copy_from_slice(b"MZ");
        put_u32(&mut b, 0x3c, 0x80);
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        put_u16(&mut b, 0x84, IMAGE_FILE_MACHINE_AMD64);
        put_u16(&mut b, 0x86, 1);
        put_u16(&mut b, 0x84 + 16, 240);
        let opt = 0x98;
        put_u16(&mut b, opt, 0x20b);
        put_u32(&mut b, opt + 32, 0x1000);
        put_u32(&mut b, opt + 36, 0x200);
        put_u32(&mut b, opt + 56, 0x2000);
        put_u32(&mut b, opt + 60, 0x400);
        put_u32(&mut b, opt + 108, 16);
        let text = opt + 240;
        b[text..text + 5].copy_from_slice(b".text");
        put_u32(&mut b, text + 8, 0x100);
        put_u32(&mut b, text + 12, 0x1000);
        put_u32(&mut b, text + 16, 0x200);
        put_u32(&mut b, text + 20, 0x400);
        b
    }

    #[test]
    fn sections_are_appended_aligned_after_the_last_one() {
        let mut pe = PeImage::parse(image()).unwrap();
        pe.add_section(".cmdline", b"quiet").unwrap();
        pe.add_section(".linux", &[7u8; 0x1234]).unwrap();
        let b = pe.finish();
        assert_eq!(u16_at(&b, 0x86), Some(3), "NumberOfSections");
        let h = 0x98 + 240 + 40;
        assert_eq!(&b[h..h + 8], b".cmdline");
        // VirtualSize, VirtualAddress, SizeOfRawData, PointerToRawData, Characteristics
        let fields = |h: usize| [8, 12, 16, 20, 36].map(|at| u32_at(&b, h + at).unwrap());
        assert_eq!(fields(h), [5, 0x2000, 0x200, 0x600, 0x4000_0040]);
        assert_eq!(&b[h + 40..h + 46], b".linux");
        assert_eq!(fields(h + 40), [0x1234, 0x3000, 0x1400, 0x800, 0x4000_0040]);
        assert_eq!(b.len(), 0x800 + 0x1400, "raw data padded to FileAlignment");
        assert_eq!(&b[0x600..0x605], b"quiet");
        assert_eq!(u32_at(&b, 0x98 + 56), Some(0x5000), "SizeOfImage");
        let mut zeroed = b.clone();
        put_u32(&mut zeroed, 0x98 + 64, 0);
        assert_eq!(u32_at(&b, 0x98 + 64), Some(checksum(&zeroed)));
    }

    #[test]
    fn signed_full_and_foreign_files_are_refused_and_trailing_bytes_dropped() {
        assert_eq!(PeImage::parse(vec![0u8; 64]).unwrap_err(), PeError::NotPe);
        let mut signed = image();
        put_u32(&mut signed, 0x98 + 112 + CERTIFICATE_TABLE * 8 + 4, 0x100);
        assert_eq!(PeImage::parse(signed).unwrap_err(), PeError::Signed);
        let mut full = image();
        put_u32(&mut full, 0x98 + 60, (0x98 + 240 + 40) as u32);
        assert_eq!(PeImage::parse(full).unwrap().add_section(".x", b"x"), Err(PeError::NoRoom));
        let mut trailing = image();
        trailing.extend([1u8; 0x300]);
        // parse keeps every byte (signing a kernel changes nothing but the checksum) ...
        assert_eq!(PeImage::parse(trailing.clone()).unwrap().finish().len(), 0x900);
        // ... and bytes no section describes are dropped before sections are added: the
        // section goes where they were.
        let mut pe = PeImage::parse(trailing.clone()).unwrap();
        pe.drop_trailing_bytes().unwrap();
        pe.add_section(".x", b"x").unwrap();
        let b = pe.finish();
        assert_eq!((u32_at(&b, 0x98 + 240 + 40 + 20), b.len()), (Some(0x600), 0x800));
        // The same bytes as a COFF symbol table: dropped, and the header says so.
        put_u32(&mut trailing, 0x84 + 8, 0x600);
        put_u32(&mut trailing, 0x84 + 12, 9);
        let mut pe = PeImage::parse(trailing.clone()).unwrap();
        pe.drop_trailing_bytes().unwrap();
        pe.add_section(".x", b"x").unwrap();
        let b = pe.finish();
        assert_eq!((u32_at(&b, 0x84 + 8), u32_at(&b, 0x84 + 12), b.len()), (Some(0), Some(0), 0x800));
        // No section with raw data: the headers stay.
        let mut bare = trailing.clone();
        put_u32(&mut bare, 0x98 + 240 + 16, 0);
        let mut pe = PeImage::parse(bare).unwrap();
        pe.drop_trailing_bytes().unwrap();
        assert_eq!(pe.finish().len(), 0x400, "SizeOfHeaders");
        // Raw data past the end of the file, or no certificate table entry: refused.
        let mut cut = image();
        cut.truncate(0x500);
        assert_eq!(PeImage::parse(cut).unwrap_err(), PeError::NotPe);
        let mut few = image();
        put_u32(&mut few, 0x98 + 108, 4);
        assert_eq!(PeImage::parse(few).unwrap_err(), PeError::NoCertificateEntry);
        assert_eq!(machine(&image()), Some(IMAGE_FILE_MACHINE_AMD64));
    }

    #[test]
    fn the_layout_skips_checksum_and_certificate_entry_and_a_table_can_be_cut_off() {
        let layout = Layout::read(&image()).unwrap();
        assert_eq!((layout.checksum, layout.certificate_entry), (0x98 + 64, 0x98 + 112 + 32));
        assert_eq!((layout.size_of_headers, layout.sections.clone()), (0x400, vec![(0x400, 0x200)]));
        let mut signed = image();
        signed.extend([9u8; 0x48]);
        set_certificate_table(&mut signed, 0x600, 0x48).unwrap();
        assert_eq!(Layout::read(&signed).unwrap().certificate_table_size, 0x48);
        let unsigned = without_signature(signed).unwrap();
        assert_eq!(unsigned.len(), 0x600);
        assert_eq!(Layout::read(&unsigned).unwrap().certificate_table_size, 0);
        let mut inside = image();
        set_certificate_table(&mut inside, 0x400, 0x10).unwrap();
        assert_eq!(without_signature(inside), Err(PeError::MisplacedCertificates));
    }

    #[test]
    fn checksum_folds_carries_and_adds_the_length() {
        assert_eq!(checksum(&[0xff, 0xff, 0x01, 0x00]), 1 + 4);
        assert_eq!(checksum(&[0x01]), 1 + 1);
    }
}
