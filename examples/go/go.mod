module caas.example/client

go 1.19
