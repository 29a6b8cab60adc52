"""What supervisors and Special Care read from the store: tables, JSON, CSV and incident reports.

``respectline report`` and ``respectline cases`` (``agi_scripts.cli``) are thin layers over this
package: ``moments`` reads and shows times in the contact centre's time zone, ``render`` prints
rows as an aligned table, JSON or CSV, ``views`` turns store records into those rows, and
``incident_report`` writes a case as a document a person can hand to the police.
"""
