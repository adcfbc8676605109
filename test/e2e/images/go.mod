// The e2e suite's container images: tiny static programs and the OCI-archive
// builder that packs them. Standard library only, except lib/pq (the
// PostgreSQL driver of ./shop). Built by ./build.sh into ../.bin/images/;
// not part of the TypeScript package.
module cdk8s-migrated-app/test/e2e/images

go 1.26.0

require github.com/lib/pq v1.12.3
