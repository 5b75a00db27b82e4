//! Live spot prices (feature `aws`): DescribeSpotPriceHistory over the committed table.

#[cfg(feature = "aws")]
use anyhow::Context;
use anyhow::Result;

use super::prices::PriceTable;

/// Replaces the spot prices of `pairs` with live ones (feature `aws`); on-demand prices stay the table's.
pub fn apply_live_prices(
    prices: &mut PriceTable,
    pairs: &[(String, String)],
    endpoint: Option<&str>,
) -> Result<()> {
    #[cfg(not(feature = "aws"))]
    {
        let _ = (prices, pairs, endpoint);
        anyhow::bail!("--live-prices needs AWS: built without the `aws` feature; rebuild with `cargo build --features aws`")
    }
    #[cfg(feature = "aws")]
    {
        let target = crate::aws::AwsTarget {
            endpoint_url: endpoint.map(str::to_string),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the tokio runtime")?;
        let live = rt.block_on(crate::aws::spot_prices::live_spot_prices(&target, pairs))?;
        for ((t, r), spot) in live {
            let base = prices.require(&t, &r)?;
            prices.set(&t, &r, crate::cost::prices::Price { spot, ..base });
        }
        prices.source = format!(
            "{} with live spot prices (DescribeSpotPriceHistory)",
            prices.source
        );
        Ok(())
    }
}
