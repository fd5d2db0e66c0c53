//! A column chunk's pages, checked before parquet decodes them.
//!
//! parquet sizes a dictionary by its page header's value count before decoding a byte of it,
//! so a corrupt header that claims 2 billion strings makes it allocate 64 GB, which aborts
//! the process (fuzzing found one). A dictionary page is PLAIN: every value takes at least
//! its physical type's width (a string its 4-byte length), so a count its bytes cannot hold
//! is refused here, before the crate sees the page.

use parquet::basic::Type as PhysicalType;
use parquet::column::page::{Page, PageMetadata, PageReader};
use parquet::errors::{ParquetError, Result};

/// Pages of one column chunk, passed on once checked.
pub(super) struct CheckedPages {
    inner: Box<dyn PageReader>,
    /// The fewest bits a PLAIN value of the column's physical type takes.
    min_value_bits: u64,
}

impl CheckedPages {
    pub(super) fn new(
        inner: Box<dyn PageReader>,
        physical: PhysicalType,
        type_length: i32,
    ) -> Self {
        let min_value_bits = match physical {
            PhysicalType::BOOLEAN => 1,
            PhysicalType::INT32 | PhysicalType::FLOAT | PhysicalType::BYTE_ARRAY => 32,
            PhysicalType::INT64 | PhysicalType::DOUBLE => 64,
            PhysicalType::INT96 => 96,
            PhysicalType::FIXED_LEN_BYTE_ARRAY => 8 * u64::try_from(type_length).unwrap_or(0),
        };
        CheckedPages {
            inner,
            min_value_bits,
        }
    }

    fn check(&self, page: Option<Page>) -> Result<Option<Page>> {
        if let Some(Page::DictionaryPage {
            buf, num_values, ..
        }) = &page
        {
            let needs = u64::from(*num_values).saturating_mul(self.min_value_bits);
            let has = (buf.len() as u64).saturating_mul(8);
            if needs > has {
                return Err(ParquetError::General(format!(
                    "a dictionary page claims {num_values} values in {} bytes",
                    buf.len()
                )));
            }
        }
        Ok(page)
    }
}

impl Iterator for CheckedPages {
    type Item = Result<Page>;

    fn next(&mut self) -> Option<Self::Item> {
        self.get_next_page().transpose()
    }
}

impl PageReader for CheckedPages {
    fn get_next_page(&mut self) -> Result<Option<Page>> {
        let page = self.inner.get_next_page()?;
        self.check(page)
    }

    fn peek_next_page(&mut self) -> Result<Option<PageMetadata>> {
        self.inner.peek_next_page()
    }

    fn skip_next_page(&mut self) -> Result<()> {
        self.inner.skip_next_page()
    }

    fn supports_deferred_dictionary(&self) -> bool {
        self.inner.supports_deferred_dictionary()
    }

    fn take_deferred_dictionary(&mut self) -> Result<Option<Page>> {
        let page = self.inner.take_deferred_dictionary()?;
        self.check(page)
    }

    fn at_record_boundary(&mut self) -> Result<bool> {
        self.inner.at_record_boundary()
    }
}
