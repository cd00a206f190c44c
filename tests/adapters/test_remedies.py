"""A quarantine reason names the refused field and says what to do, not just a raw code."""

from connector.adapters.salesforce.adapter import record_error


def test_given_invalid_field_without_fields_list_when_classified_then_field_named_from_message_and_fix_given():
    error = record_error([{"statusCode": "INVALID_FIELD", "fields": [],
                           "message": "No such column 'Leadsync_Score__c' on sobject of type Lead"}])
    assert "INVALID_FIELD on Leadsync_Score__c" in str(error)
    assert "leadsync setup --apply" in str(error) and not error.transient


def test_given_required_field_when_classified_then_the_field_and_next_step_are_named():
    error = record_error([{"statusCode": "REQUIRED_FIELD_MISSING", "fields": ["Company"], "message": "Required fields are missing: [Company]"}])
    assert str(error).startswith("Salesforce refused the record: REQUIRED_FIELD_MISSING on Company. To do:")
    assert "Company" in str(error).split("To do:")[1]


def test_given_unknown_code_then_generic_next_step_and_transient_codes_get_none():
    assert "quarantine retry" in str(record_error([{"statusCode": "SOMETHING_NEW", "message": "?"}]))
    locked = record_error([{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain exclusive access"}])
    assert locked.transient and "To do" not in str(locked)


def test_given_hubspot_validation_error_naming_a_property_then_reason_names_it_and_says_what_to_do():
    from connector.adapters.hubspot.adapter import refusal
    text = refusal("VALIDATION_ERROR", 'Property values were not valid: [{"isValid":false,"name":"leadsync_score"}]')
    assert text.startswith("HubSpot refused the update: VALIDATION_ERROR on leadsync_score. To do:")
    assert "quarantine drop" in refusal("OBJECT_NOT_FOUND", "resource not found")
