.PHONY: run test bench build fuzz

# Run the service on the embedded SQLite default (http://localhost:8080).
run:
	go run ./cmd/dvcbot serve

# The whole suite against real Postgres and SQLite (what CI runs).
test:
	scripts/test

build:
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bin/dvcbot ./cmd/dvcbot

bench:
	go test -run '^$$' -bench . -benchmem ./...

fuzz:
	go test ./core/vntext -run '^$$' -fuzz FuzzParseCodes -fuzztime 60s
	go test ./core/vntext -run '^$$' -fuzz FuzzCountSMS -fuzztime 60s
