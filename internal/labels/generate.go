package labels

//go:generate go run ./internal/gen -o total_table.go
