"""Splink (DuckDB backend) on the bench-reconcile data: the peer `cargo xtask bench-reconcile`
measures ndx against. Written out and run by xtask/src/reconcile.rs.

    python3 splink_reconcile.py REFERENCE.csv TARGET.csv OUT.csv

Both CSVs have the columns of `ndx reconcile`'s interface (reference: citizen_id, full_name,
sex, date_of_birth, address; target: staff_id and the same). Names and addresses are
standardised in DuckDB first (lower case, no diacritics, `đ` → `d`), as Splink's guide asks of
its input. The model: exact citizen ID, Splink's name comparison (Jaro-Winkler levels), its
date-of-birth comparison, exact sex, Jaro-Winkler on the address; blocking on the citizen ID,
the birth date, the name with the birth year, family and given name with the birth year, and
the name with day and month (the rules ndx uses); the prior from the citizen-ID rule, u from
random pairs, m by EM on two blocking rules. Each target record's best pair at a match
probability of at least 0.9 is its match (OUT.csv: target_id, reference_id, probability).
"""

import sys
import time

import duckdb
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

reference_csv, target_csv, out_csv = sys.argv[1:4]
started = time.time()

con = duckdb.connect()
FOLD = "lower(strip_accents(replace(replace({c}, 'đ', 'd'), 'Đ', 'D')))"
for table, path, uid in (("reference_in", reference_csv, "citizen_id"), ("target_in", target_csv, "staff_id")):
    con.execute(
        f"""
        create table {table} as
        select
            {uid}::varchar as unique_id,
            nullif(citizen_id::varchar, '') as cid,
            {FOLD.format(c="full_name")} as name,
            split_part({FOLD.format(c="full_name")}, ' ', 1) as family,
            regexp_extract({FOLD.format(c="full_name")}, '(\\S+)$', 1) as given,
            nullif(date_of_birth::varchar, '') as dob,
            nullif(sex::varchar, '') as sex,
            {FOLD.format(c="address")} as addr
        from read_csv('{path}', header = true, all_varchar = true)
        """
    )

db_api = DuckDBAPI(connection=con)
reference = db_api.register("reference_in", dataset_display_name="reference")
target = db_api.register("target_in", dataset_display_name="target")

settings = SettingsCreator(
    link_type="link_only",
    unique_id_column_name="unique_id",
    blocking_rules_to_generate_predictions=[
        block_on("cid"),
        block_on("dob"),
        block_on("name", "substr(dob, 1, 4)"),
        block_on("family", "given", "substr(dob, 1, 4)"),
        block_on("name", "substr(dob, 6, 5)"),
    ],
    comparisons=[
        cl.ExactMatch("cid"),
        cl.NameComparison("name"),
        cl.DateOfBirthComparison("dob", input_is_string=True),
        cl.ExactMatch("sex"),
        cl.JaroWinklerAtThresholds("addr", [0.9, 0.7]),
    ],
    retain_intermediate_calculation_columns=False,
    retain_matching_columns=False,
)

linker = Linker([reference, target], settings)
linker.training.estimate_probability_two_random_records_match([block_on("cid")], recall=0.7)
linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=2030)
linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
linker.training.estimate_parameters_using_expectation_maximisation(block_on("name"))
predictions = linker.inference.predict(threshold_match_probability=0.5)
table = predictions.physical_name

# The side each id came from: link_only puts the two datasets on either side of a pair.
best = db_api.duckdb_con.execute(
    f"""
    with pairs as (
        select
            case when source_dataset_l = 'target' then unique_id_l else unique_id_r end as target_id,
            case when source_dataset_l = 'target' then unique_id_r else unique_id_l end as reference_id,
            match_probability
        from {table}
    ),
    ranked as (
        select *, row_number() over (partition by target_id order by match_probability desc) as rank
        from pairs
    )
    select target_id, reference_id, match_probability from ranked
    where rank = 1 and match_probability >= 0.9
    """
).fetchall()

with open(out_csv, "w", encoding="utf-8") as out:
    out.write("target_id,reference_id,probability\n")
    for target_id, reference_id, p in best:
        out.write(f"{target_id},{reference_id},{p:.6f}\n")
print(f"splink: {len(best)} matches in {time.time() - started:.1f} s", file=sys.stderr)
