module netrpc-go-peer

go 1.19
