"""Custom Great Expectations of the lakehouse, one per file, named after what they assert.

Importing this package registers them with GX (each class registers itself under its
snake_case name), so suites can name them like the built-in ones. Importing it imports
GX (slow, ~4 s): only ``dq.run`` and the tests do.
"""

from dq.custom_expectations.expect_column_max_to_be_recent import ExpectColumnMaxToBeRecent
from dq.custom_expectations.expect_column_to_equal_date_of_timestamp import (
    ExpectColumnToEqualDateOfTimestamp,
)
from dq.custom_expectations.expect_column_values_to_exist_in_table import (
    ExpectColumnValuesToExistInTable,
)
from dq.custom_expectations.expect_column_values_to_not_be_in_future import (
    ExpectColumnValuesToNotBeInFuture,
)
from dq.custom_expectations.expect_key_to_be_unique import ExpectKeyToBeUnique
from dq.custom_expectations.expect_no_overlapping_validity_ranges import (
    ExpectNoOverlappingValidityRanges,
)
from dq.custom_expectations.expect_no_stale_open_sessions import ExpectNoStaleOpenSessions
from dq.custom_expectations.expect_one_current_row_per_key import ExpectOneCurrentRowPerKey
from dq.custom_expectations.expect_row_count_to_match_table import ExpectRowCountToMatchTable
from dq.custom_expectations.expect_rows_to_satisfy_condition import ExpectRowsToSatisfyCondition
from dq.custom_expectations.expect_unknown_member_row import ExpectUnknownMemberRow

CUSTOM_EXPECTATIONS = {
    cls.__name__: cls
    for cls in (
        ExpectColumnMaxToBeRecent,
        ExpectColumnToEqualDateOfTimestamp,
        ExpectColumnValuesToExistInTable,
        ExpectColumnValuesToNotBeInFuture,
        ExpectKeyToBeUnique,
        ExpectNoOverlappingValidityRanges,
        ExpectNoStaleOpenSessions,
        ExpectOneCurrentRowPerKey,
        ExpectRowCountToMatchTable,
        ExpectRowsToSatisfyCondition,
        ExpectUnknownMemberRow,
    )
}

__all__ = ["CUSTOM_EXPECTATIONS", *CUSTOM_EXPECTATIONS]
