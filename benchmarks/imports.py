"""Import benchmark: python -m benchmarks.imports [--rows 1000000] [--keep DIR].

Writes a leads CSV of the size asked (seeded; realistic columns and a little mess: US and ISO dates,
thousands separators, mixed case, 1% bad rows), then runs the real command line in a child process,
`python -m flashdash import FILE --entity leads --mapping M --db STORE`, into an empty store, and again
to show that a second import of the same file changes nothing. Prints wall time, rows per second,
the child's peak resident memory and the store's size.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
MAPPING = """entity: leads
on_duplicate: merge
fields:
  external_id: Lead ID
  merchant_name: Company
  contact_name: {template: "{First Name} {Last Name}"}
  email: Email
  phone: Phone
  vertical: Industry
  company_size: No. of Employees
  monthly_volume: Monthly Volume
  city: City
  channel: Lead Source
  campaign: Campaign
  interest_level: Rating
  status: Lead Status
  submitted_at: Created Date
"""


def write_csv(path: Path, rows: int, seed: int = 42) -> None:
    rng = np.random.default_rng(seed)
    i = np.arange(rows)
    days = rng.integers(0, 730, rows)
    ts = (np.datetime64("2024-01-01T08:00") + days.astype("timedelta64[D]")
          + rng.integers(0, 600, rows).astype("timedelta64[m]"))
    ts = ts.astype("datetime64[us]")
    iso = pl.Series(ts).dt.strftime("%Y-%m-%d %H:%M:%S")
    us = pl.Series(ts).dt.strftime("%m/%d/%Y %I:%M %p")
    volume = rng.lognormal(10, 1, rows).round(2)
    frame = pl.DataFrame({
        "Lead ID": i,
        "First Name": rng.choice(["Ana", "Bruno", "Carla", "Diego", "Elena", "Fabio", "Gabi", "Hugo"], rows),
        "Last Name": rng.choice(["Silva", "Souza", "Lima", "Costa", "Pereira", "Alves"], rows),
        "Company": i,
        "Email": i,
        "Phone": pl.Series(rng.integers(2_000_000_000, 9_999_999_999, rows)).cast(pl.String),
        "Industry": rng.choice(["Restaurants", "retail", "E-commerce", "health & beauty", "Hospitality"], rows),
        "No. of Employees": rng.choice(["1-10", "11-50", "51-200", "201-1000", "5000"], rows),
        "Monthly Volume": volume,
        "City": rng.choice(["Austin, TX", "Denver, CO", "Miami, FL", "Boston, MA"], rows),
        "Lead Source": rng.choice(["Web", "Partner Referral", "Paid Search", "organic_search", "Trade Show"], rows),
        "Campaign": rng.choice(["spring-promo", "pos-launch", "", "retargeting"], rows),
        "Rating": rng.choice(["Hot", "warm", "COLD", ""], rows),
        "Lead Status": rng.choice(["Open - Not Contacted", "Working - Contacted", "Qualified", "Closed - Converted",
                                   "Unqualified"], rows),
        "Created Date": pl.Series(np.where(rng.random(rows) < 0.5, iso.to_numpy(), us.to_numpy())),
    })
    frame = frame.with_columns(
        pl.format("00Q{}", pl.col("Lead ID").cast(pl.String).str.zfill(8)).alias("Lead ID"),
        pl.format("Merchant {}", pl.col("Company")).alias("Company"),
        pl.format("owner{}@merchant.example", pl.col("Email")).alias("Email"),
        # thousands separators, as spreadsheets write them: 12,345.67
        pl.col("Monthly Volume").round(2).cast(pl.Decimal(18, 2)).cast(pl.String)
        .str.replace(r"^(\d+)(\d{3})\.", "$1,$2.").alias("Monthly Volume"),
    )
    bad = rng.random(rows) < 0.01
    frame = frame.with_columns(pl.when(pl.Series(bad)).then(pl.lit("someday")).otherwise(pl.col("Created Date"))
                               .alias("Created Date"))
    frame.write_csv(path)


def run(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return seconds, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", help="keep the CSV, mapping and store in this directory")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="flashdash-bench-import-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        csv, mapping, db = work / "leads.csv", work / "leads-mapping.yaml", work / "bench-import.duckdb"
        mapping.write_text(MAPPING)
        if not csv.exists():
            t0 = time.perf_counter()
            write_csv(csv, args.rows)
            print(f"Wrote {args.rows:,} rows, {csv.stat().st_size / 1e6:,.0f} MB, in {time.perf_counter() - t0:.1f} s")
        for stale in db.parent.glob(db.name + "*"):
            stale.unlink()
        cmd = [sys.executable, "-m", "flashdash", "import", str(csv), "--entity", "leads", "--mapping", str(mapping),
               "--db", str(db), "--quiet", "--quarantine-dir", str(work / "quarantine")]
        first, out = run(cmd)
        peak_first = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(out.strip().splitlines()[0])
        second, out2 = run(cmd)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(out2.strip().splitlines()[0])
        print(f"\nFirst import:  {first:6.1f} s  ({args.rows / first:,.0f} rows/s), peak RSS {peak_first:,.0f} MB")
        print(f"Re-import:     {second:6.1f} s  (nothing changes), peak RSS over both {peak:,.0f} MB")
        print(f"Store:         {db.stat().st_size / 1e6:,.0f} MB")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
