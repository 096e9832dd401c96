// SPDX-License-Identifier: MIT
// Heap profile target in C++: shapes::make_widget(int) leaks argv[1] Widgets
// (new, 48 bytes each) kept in a static array, and shapes::Grid<int>::grow
// allocates and frees through std::vector. Prints "widgets <n>".
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace shapes {

struct Widget {
	long id;
	double area[5];
};

static Widget *volatile kept[100000];

Widget *make_widget(int id)
{
	Widget *w = new Widget();
	w->id = id;
	return w;
}

template <typename T> struct Grid {
	static long grow(int n)
	{
		std::vector<T> v;
		for (int i = 0; i < n; i++)
			v.push_back(T(i));
		return (long)v.size();
	}
};

} // namespace shapes

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	long s = 0;

	if (n < 0 || n > 100000)
		n = 1000;
	for (int i = 0; i < n; i++) {
		shapes::kept[i] = shapes::make_widget(i);
		s += shapes::Grid<int>::grow(64);
	}
	printf("widgets %d %ld\n", n, s);
	return 0;
}
