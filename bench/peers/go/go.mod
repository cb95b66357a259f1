module caas.bench/go-oracle

go 1.19
