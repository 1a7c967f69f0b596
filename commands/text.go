package commands

// plural picks the word for a count in messages: "1 job", "3 jobs".
func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
