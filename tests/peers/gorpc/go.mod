module netrpc-gorpc-peer

go 1.19
