package pipeline

// Classify is the failure code and message the ingest stage gives a scan
// that cannot be read because of err, for callers that read scans the same
// way outside the pipeline (the CLI's batch runs), so both speak the same
// codes. looksNIfTI says whether the input began like a NIfTI file.
func Classify(err error, looksNIfTI bool) (code, message string) {
	return classify(err, looksNIfTI)
}
