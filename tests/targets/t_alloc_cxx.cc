// SPDX-License-Identifier: MIT
// C++ allocations go through libstdc++'s operator new/delete to malloc/free:
// argv[1] iterations of new/delete of a 40-byte object, new[]/delete[] of
// 100 ints and a std::vector<long> of 16 elements (one malloc each).
#include <cstdlib>
#include <cstdio>
#include <vector>

struct Obj {
	long v[5];
};

static volatile long sink;

static void churn(long n)
{
	for (long i = 0; i < n; i++) {
		Obj *o = new Obj();
		int *a = new int[100];
		std::vector<long> v(16, i);
		o->v[0] = i;
		a[0] = (int)i;
		sink += o->v[0] + a[0] + v[15];
		delete o;
		delete[] a;
	}
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 1000;
	churn(n);
	std::printf("done %ld\n", n);
	return 0;
}
