# syntax=docker/dockerfile:1
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# Pure-Go SQLite (modernc) lets the binary be fully static.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/dvcbot ./cmd/dvcbot \
 && mkdir -p /out/var/lib/dvcbot/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dvcbot /usr/local/bin/dvcbot
COPY --from=build --chown=65532:65532 /out/var/lib/dvcbot /var/lib/dvcbot
WORKDIR /var/lib/dvcbot
USER 65532:65532
ENV DVCBOT_LISTEN=:8080
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["/usr/local/bin/dvcbot", "health"]
ENTRYPOINT ["/usr/local/bin/dvcbot"]
CMD ["serve"]
