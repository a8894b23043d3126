// Distributions come from stdlib's per-function packages (maintained, typed, tested against
// reference values), never from hand-written special functions.
import chisquareQuantileImpl from '@stdlib/stats-base-dists-chisquare-quantile';
import normalCdfImpl from '@stdlib/stats-base-dists-normal-cdf';
import normalQuantileImpl from '@stdlib/stats-base-dists-normal-quantile';
import tQuantileImpl from '@stdlib/stats-base-dists-t-quantile';

/** The p-quantile of Student's t with `df` degrees of freedom; the normal's for infinite df. */
export function tQuantile(p: number, df: number): number {
  if (!(df > 0)) return Number.NaN;
  return Number.isFinite(df) ? tQuantileImpl(p, df) : normalQuantileImpl(p, 0, 1);
}

/** The p-quantile of the standard normal. */
export const normalQuantile = (p: number): number => normalQuantileImpl(p, 0, 1);

/** The standard normal's cumulative distribution function. */
export const normalCdf = (x: number): number => normalCdfImpl(x, 0, 1);

/** The p-quantile of chi-squared with `df` degrees of freedom. */
export const chisquareQuantile = (p: number, df: number): number => chisquareQuantileImpl(p, df);
